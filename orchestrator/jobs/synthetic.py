"""Synthetic grievances for demos, tests and benchmarks: Nepali (Devanagari) with some English.

Each text is built from phrases: a place, one or two complaints from its department's vocabulary, often
a complaint from another department (a hospital's road, a school's water tap), shared filler, an urgency
cue and a closing. Gold labels are then flipped at a small rate (``LABEL_NOISE``). The overlap and the
noise are deliberate: a good character n-gram model reaches a macro-F1 of roughly 0.8-0.93, not 1.0, so
a deployed model makes mistakes for the feedback loop to correct.

Every row depends only on ``(seed, id)`` and the class weights: ``generate(10, seed=1)`` is the first ten
rows of ``generate(1000, seed=1)``. :func:`drift` gives a later stream whose class mix differs from the
base distribution.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.jobs.schema import DEPARTMENTS, URGENCIES

MUNICIPAL, WELFARE, INFRASTRUCTURE, SECURITY = DEPARTMENTS
NORMAL, URGENT, HIGHLY_URGENT = URGENCIES

MIN_CHARS = 80
MAX_CHARS = 180
TARGET_CHARS = 150  # filler is added up to a length drawn from [MIN_CHARS, TARGET_CHARS]
LABEL_NOISE = 0.06  # chance that a gold label is replaced by another class
CONFUSER_RATE = 0.30  # chance that a text also mentions another department's problem
OWN_CUE_RATE = 0.85  # chance that the urgency cue matches the gold urgency (else another class's, or none)

BASE_DEPARTMENT_WEIGHTS: Mapping[str, float] = {
    MUNICIPAL: 0.30,
    WELFARE: 0.20,
    INFRASTRUCTURE: 0.35,
    SECURITY: 0.15,
}
BASE_URGENCY_WEIGHTS: Mapping[str, float] = {NORMAL: 0.50, URGENT: 0.35, HIGHLY_URGENT: 0.15}
# A later stream (e.g. the monsoon): more security and welfare complaints, more of them urgent.
DRIFT_DEPARTMENT_WEIGHTS: Mapping[str, float] = {
    MUNICIPAL: 0.15,
    WELFARE: 0.35,
    INFRASTRUCTURE: 0.20,
    SECURITY: 0.30,
}
DRIFT_URGENCY_WEIGHTS: Mapping[str, float] = {NORMAL: 0.30, URGENT: 0.40, HIGHLY_URGENT: 0.30}

TOPICS: Mapping[str, tuple[str, ...]] = {
    INFRASTRUCTURE: (
        "सडकमा ठूलो खाल्डो परेको छ",
        "खानेपानीको पाइप फुटेको छ",
        "तीन दिनदेखि बिजुली छैन",
        "ट्रान्सफर्मर बिग्रिएको छ",
        "पुल भत्किने अवस्थामा छ",
        "road construction अधुरो छ",
        "सडक बत्ती बलेको छैन",
        "धारामा पानी आउँदैन",
        "पहिरोले बाटो अवरुद्ध भएको छ",
        "water supply बन्द छ",
        "खोलाबाट अवैध बालुवा उत्खनन भइरहेको छ",
        "बिजुलीको तार झुन्डिएको छ",
        "नयाँ पिच सडक भत्किसक्यो",
        "power cut दिनहुँ हुन्छ",
        "ढल भरिएर सडकमा पानी बगिरहेको छ",
    ),
    WELFARE: (
        "विद्यालयमा शिक्षक नियमित आउँदैनन्",
        "स्वास्थ्य चौकीमा औषधि छैन",
        "अस्पतालमा डाक्टर उपलब्ध छैनन्",
        "जेष्ठ नागरिक भत्ता पाएको छैन",
        "school को भवन चर्किएको छ",
        "विद्यार्थीलाई छात्रवृत्ति दिइएको छैन",
        "hospital मा लामो लाइन लाग्छ",
        "एम्बुलेन्स समयमा आउँदैन",
        "अपाङ्गता परिचयपत्र बनाउन समस्या भयो",
        "खोप कार्यक्रम रोकिएको छ",
        "सामाजिक सुरक्षा भत्ता ढिलो आउँछ",
        "बालबालिकाको दिवा खाजा बन्द छ",
        "health post मा nurse छैनन्",
    ),
    SECURITY: (
        "रातमा चोरीका घटना बढेका छन्",
        "प्रहरीले उजुरी लिन मानेन",
        "लागूऔषध बिक्री भइरहेको छ",
        "घरेलु हिंसा भइरहेको छ",
        "मोटरसाइकल चोरी भयो",
        "police patrol हुँदैन",
        "जुवा तास खेल्ने अड्डा चलेको छ",
        "सडकमा झगडा र कुटपिट भयो",
        "मदिरा सेवन गरेर हल्ला गर्छन्",
        "अनलाइन ठगी भयो",
        "ट्राफिक नियम उल्लङ्घन धेरै छ",
        "महिलामाथि दुर्व्यवहार भयो",
        "theft का घटना रोकिएनन्",
    ),
    MUNICIPAL: (
        "वडा कार्यालयले सिफारिस दिन ढिलाइ गर्‍यो",
        "फोहोर उठाउने गाडी आएको छैन",
        "घर नक्सा पास गर्न घुस माग्यो",
        "सम्पत्ति कर धेरै लगाइयो",
        "जन्म दर्ता गर्न समस्या भयो",
        "ward office का कर्मचारी समयमा आउँदैनन्",
        "सार्वजनिक शौचालय फोहोर छ",
        "waste management राम्रो छैन",
        "पार्कको मर्मत भएको छैन",
        "वडाको बजेट दुरुपयोग भएको छ",
        "tax office मा लाइन लामो छ",
        "नागरिक बडापत्र पालना भएको छैन",
        "छाडा कुकुरको समस्या छ",
    ),
}
# What the later stream talks about and the base set never does (floods, dengue, online fraud, apps):
# a model trained on the base set alone gets these wrong until feedback teaches it.
EMERGING_TOPICS: Mapping[str, tuple[str, ...]] = {
    INFRASTRUCTURE: (
        "बाढीले तटबन्ध भत्काइदियो",
        "internet fiber काटिएको छ",
        "solar बत्ती जडान अधुरो छ",
        "सिँचाइ कुलो पुरिएको छ",
    ),
    WELFARE: (
        "डेंगु संक्रमण फैलिएको छ",
        "online class को लागि ल्यापटप छैन",
        "मातृ शिशु वार्ड बन्द गरियो",
        "मानसिक स्वास्थ्य परामर्श पाइँदैन",
    ),
    SECURITY: (
        "साइबर ठगीबाट पैसा गुम्यो",
        "फेसबुकमा धम्की आयो",
        "mobile banking hack भयो",
        "नक्कली म्यानपावरले ठग्यो",
    ),
    MUNICIPAL: (
        "डिजिटल नागरिकता app चल्दैन",
        "e-payment बाट कर तिर्न मिलेन",
        "बाढीपीडितको राहत वितरणमा ढिलाइ भयो",
        "घरबहाल कर अनलाइन बुझाउन मिलेन",
    ),
}
EMERGING_RATE = 0.6  # share of drifted rows that talk about an emerging topic
PLACES = (
    "वडा नं. ५ मा",
    "हाम्रो टोलमा",
    "बजार क्षेत्रमा",
    "काठमाडौं वडा ३२ मा",
    "पोखरा लेकसाइड नजिक",
    "गाउँको पूर्वी भागमा",
    "मुख्य चोक नजिकै",
    "ललितपुर वडा ७ मा",
    "बिराटनगर ३ को बस्तीमा",
    "near the bus park",
)
FILLERS = (
    "धेरै पटक भनिसक्यौं तर कसैले सुनेन",
    "स्थानीयवासी निकै दुखी छन्",
    "यो समस्या लामो समयदेखि छ",
    "please help us",
    "सम्बन्धित निकायले ध्यान दिनुपर्‍यो",
    "हामी सबै परेशान छौं",
    "complaint गरे पनि केही भएन",
    "गत महिनादेखि यस्तै छ",
)
URGENCY_CUES: Mapping[str, tuple[str, ...]] = {
    NORMAL: (
        "बिस्तारै भए पनि हुन्छ",
        "समय मिलेमा हेर्नुहोला",
        "सुझावको रूपमा राखेको हुँ",
        "when possible",
        "फुर्सद मिलेमा मिलाइदिनुहोला",
    ),
    URGENT: (
        "छिटो समाधान चाहियो",
        "urgent छ",
        "यो जरुरी छ",
        "यो हप्ताभित्र मिलाइदिनुहोस्",
        "चाँडो हेर्नुहोस्",
    ),
    HIGHLY_URGENT: (
        "ज्यान जोखिममा छ",
        "आपतकालीन अवस्था हो",
        "तुरुन्त कारबाही गर्नुहोस्",
        "emergency छ",
        "दुर्घटना हुन सक्छ, अहिले नै आउनुहोस्",
    ),
}
CLOSINGS = ("कृपया ध्यान दिनुहोस्।", "समाधान गरिदिनुहोला।", "please do something.", "धन्यवाद।", "")


@dataclass(frozen=True)
class Grievance:
    id: int
    text: str
    department: str
    urgency: str


def generate(
    n: int,
    *,
    seed: int,
    start_id: int = 1,
    department_weights: Mapping[str, float] = BASE_DEPARTMENT_WEIGHTS,
    urgency_weights: Mapping[str, float] = BASE_URGENCY_WEIGHTS,
    emerging_rate: float = 0.0,
) -> list[Grievance]:
    """``n`` grievances with ids ``start_id .. start_id + n - 1``; the weights set the gold class mix,
    ``emerging_rate`` the share that leads with an :data:`EMERGING_TOPICS` complaint."""
    if n < 0:
        raise ValueError("n must not be negative")
    departments = _distribution(department_weights, DEPARTMENTS, "department_weights")
    urgencies = _distribution(urgency_weights, URGENCIES, "urgency_weights")
    return [
        _grievance(row_id, seed, departments, urgencies, emerging_rate) for row_id in range(start_id, start_id + n)
    ]


def drift(n: int, *, seed: int, start_id: int = 1) -> list[Grievance]:
    """A later stream: a different class mix (:data:`DRIFT_DEPARTMENT_WEIGHTS`) and new topics that the
    base distribution never mentions (:data:`EMERGING_TOPICS`)."""
    return generate(
        n,
        seed=seed,
        start_id=start_id,
        department_weights=DRIFT_DEPARTMENT_WEIGHTS,
        urgency_weights=DRIFT_URGENCY_WEIGHTS,
        emerging_rate=EMERGING_RATE,
    )


def mixed(n: int, *, seed: int, start_id: int = 1, drift_share: float = 0.5) -> list[Grievance]:
    """``n`` grievances of which ``drift_share`` come from :func:`drift` and the rest from the base
    distribution, interleaved; ids ``start_id .. start_id + n - 1``."""
    if not 0 <= drift_share <= 1:
        raise ValueError("drift_share must be within [0, 1]")
    rows = []
    for offset in range(n):
        row_id = start_id + offset
        drifted = unit_share(seed, row_id) < drift_share
        make = drift if drifted else generate
        rows.append(make(1, seed=seed, start_id=row_id)[0])
    return rows


def unit_share(seed: int, row_id: int) -> float:
    return random.Random(f"mix:{seed}:{row_id}").random()


def _distribution(
    weights: Mapping[str, float], classes: Sequence[str], name: str
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    unknown = set(weights) - set(classes)
    if unknown:
        raise ValueError(f"{name} names unknown classes {sorted(unknown)}; expected some of {list(classes)}")
    values = tuple(float(weights.get(c, 0.0)) for c in classes)
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum, got {dict(weights)}")
    return tuple(classes), values


def _grievance(
    row_id: int,
    seed: int,
    departments: tuple[tuple[str, ...], tuple[float, ...]],
    urgencies: tuple[tuple[str, ...], tuple[float, ...]],
    emerging_rate: float = 0.0,
) -> Grievance:
    rng = random.Random(f"{seed}:{row_id}")  # str seeds are hashed with SHA-512: stable across processes
    department = rng.choices(*departments)[0]
    urgency = rng.choices(*urgencies)[0]
    topics = TOPICS
    if emerging_rate and rng.random() < emerging_rate:
        topics = {**TOPICS, department: EMERGING_TOPICS[department]}
    text = _text(rng, department, urgency, topics)
    return Grievance(
        id=row_id,
        text=text,
        department=_noisy(rng, department, DEPARTMENTS),
        urgency=_noisy(rng, urgency, URGENCIES),
    )


def _text(rng: random.Random, department: str, urgency: str, vocabulary: Mapping[str, Sequence[str]] = TOPICS) -> str:
    """Place and complaints, then filler up to a random target length, the urgency cue, a closing."""
    topics = rng.sample(vocabulary[department], k=rng.choice((1, 1, 2)))
    if rng.random() < CONFUSER_RATE:
        other = rng.choice([d for d in DEPARTMENTS if d != department])
        topics.insert(rng.randrange(len(topics) + 1), rng.choice(TOPICS[other]))
    clauses = [f"{rng.choice(PLACES)} {topics[0]}", *topics[1:]]
    cue = _cue(rng, urgency)
    closing = rng.choice(CLOSINGS)
    target = rng.randint(MIN_CHARS, TARGET_CHARS)
    text = _compose(clauses, cue, closing)
    for filler in rng.sample(FILLERS, k=len(FILLERS)):
        if len(text) >= target:
            break
        longer = _compose([*clauses, filler], cue, closing)
        if len(longer) <= MAX_CHARS:
            clauses.append(filler)
            text = longer
    if len(text) > MAX_CHARS:
        text = _compose(clauses, cue, "")
    return text


def _cue(rng: random.Random, urgency: str) -> str:
    draw = rng.random()
    if draw < OWN_CUE_RATE:
        return rng.choice(URGENCY_CUES[urgency])
    if draw < OWN_CUE_RATE + (1 - OWN_CUE_RATE) / 2:
        return rng.choice(URGENCY_CUES[rng.choice([u for u in URGENCIES if u != urgency])])
    return ""


def _compose(clauses: Sequence[str], cue: str, closing: str) -> str:
    """'place topic, topic, filler, cue। closing'."""
    sentence = ", ".join([*clauses, cue] if cue else clauses) + "।"
    return f"{sentence} {closing}" if closing else sentence


def _noisy(rng: random.Random, label: str, classes: Sequence[str]) -> str:
    if rng.random() < LABEL_NOISE:
        return rng.choice([c for c in classes if c != label])
    return label


def write_parquet(path: Path, rows: Sequence[Grievance]) -> Path:
    """Save grievances as a labelled dataset file (``id``, ``text``, ``department``, ``urgency``): the
    shape ``orchestrator prepare`` reads as a base dataset."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {
        "id": [str(g.id) for g in rows],
        "text": [g.text for g in rows],
        "department": [g.department for g in rows],
        "urgency": [g.urgency for g in rows],
    }
    pq.write_table(pa.table(columns), path)
    return path
