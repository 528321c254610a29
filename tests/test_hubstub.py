"""The Hub stub, driven through the real ``huggingface_hub`` client over real HTTP.

These tests pin the stub to what the client parses (SpaceRuntime, typed errors from
``hf_raise_for_status``), so tests built on the stub exercise the real protocol.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
from collections.abc import Iterator

import httpx2
import pytest
from conftest import wait_for
from huggingface_hub import CommitOperationAdd, HfApi, SpaceRuntime, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_session, hf_raise_for_status
from huggingface_hub.utils._runtime import is_xet_available
from support.hubstub import HubStub

TOKENS = {"hf_good": "owner", "hf_other": "someone"}
SPACE = "owner/trainer"
DATASET = "owner/reviews"
AUTH = {"authorization": "Bearer hf_good"}


@pytest.fixture
def stub() -> Iterator[HubStub]:
    with HubStub(tokens=TOKENS) as hub:
        hub.add_space(SPACE)
        hub.add_dataset(DATASET)
        yield hub


def api(stub: HubStub, token: str | bool = "hf_good") -> HfApi:
    return HfApi(endpoint=stub.url, token=token)



def get(url: str, headers: dict[str, str] | None = None, **kwargs: object) -> httpx2.Response:
    return get_session().get(url, headers=headers or {}, **kwargs)


# ---------------------------------------------------------------- Spaces


def test_restart_by_owner_builds_then_runs(stub: HubStub) -> None:
    stub.build_seconds = 0.3
    runtime = api(stub).restart_space(SPACE)

    assert isinstance(runtime, SpaceRuntime)
    assert runtime.stage == "BUILDING"
    assert runtime.hardware == "cpu-basic" and runtime.requested_hardware == "cpu-basic"
    assert runtime.sleep_time == 172800 and runtime.dev_mode is False
    assert stub.restarts(SPACE) == 1
    [post] = stub.posts()
    assert post.path == f"/api/spaces/{SPACE}/restart" and post.status == 200
    assert post.headers["authorization"] == "Bearer hf_good"

    assert api(stub).get_space_runtime(SPACE).stage == "BUILDING"
    assert wait_for(lambda: api(stub).get_space_runtime(SPACE).stage == "RUNNING")


def test_factory_restart_and_pause(stub: HubStub) -> None:
    api(stub).restart_space(SPACE, factory_reboot=True)
    assert stub.posts()[-1].query == "factory=true"
    assert api(stub).pause_space(SPACE).stage == "PAUSED"
    assert api(stub).get_space_runtime(SPACE).stage == "PAUSED"
    assert stub.restarts(SPACE) == 1  # a pause is not a restart
    stub.set_stage(SPACE, "RUNTIME_ERROR")
    assert api(stub).get_space_runtime(SPACE).stage == "RUNTIME_ERROR"


def test_invalid_token_is_401_and_nothing_restarts(stub: HubStub) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_bad").restart_space(SPACE)
    assert not isinstance(info.value, RepositoryNotFoundError)
    assert info.value.response.status_code == 401
    assert info.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert info.value.response.headers["X-Request-Id"]
    assert stub.restarts(SPACE) == 0
    # Invalid credentials are refused on public reads too.
    stub.put_file(DATASET, "a.txt", "x")
    assert get(stub.metadata_url(DATASET, "a.txt"), {"authorization": "Bearer hf_bad"}).status_code == 401


def test_non_owner_is_403_and_missing_token_is_401(stub: HubStub) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_other").restart_space(SPACE)
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token=False).pause_space(SPACE)
    assert info.value.response.status_code == 401
    assert stub.restarts(SPACE) == 0
    assert api(stub).get_space_runtime(SPACE).stage == "RUNNING"


def test_unknown_space_is_repository_not_found(stub: HubStub) -> None:
    with pytest.raises(RepositoryNotFoundError) as info:
        api(stub).restart_space("owner/nope")
    assert info.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        api(stub).get_space_runtime("owner/nope")


def test_whoami(stub: HubStub) -> None:
    assert api(stub).whoami()["name"] == "owner"
    assert api(stub, token="hf_other").whoami()["name"] == "someone"
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_bad").whoami()
    assert info.value.response.status_code == 401


# ---------------------------------------------------------------- resolve


def test_resolve_etag_and_conditional_get(stub: HubStub) -> None:
    written = stub.put_metadata(DATASET, version_tag="v1", num_samples=1000)
    assert written["splits"] == {"train": 800, "eval": 100, "test": 100}
    url = stub.metadata_url(DATASET)

    first = get(url, AUTH)
    hf_raise_for_status(first)
    assert first.json() == written
    assert first.headers["content-type"] == "application/json"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)
    assert re.fullmatch(r"[0-9a-f]{40}", first.headers["x-repo-commit"])

    cached = get(url, {**AUTH, "if-none-match": etag})
    hf_raise_for_status(cached)  # 3xx does not raise
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["etag"] == etag

    head = get_session().head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(first.content)

    stub.put_metadata(DATASET, version_tag="v2", num_samples=10)
    changed = get(url, {**AUTH, "if-none-match": etag})
    assert changed.status_code == 200 and changed.json()["version_tag"] == "v2"
    assert changed.headers["etag"] != etag
    assert changed.headers["x-repo-commit"] != first.headers["x-repo-commit"]
    # The old commit stays addressable by its sha.
    old = get(stub.metadata_url(DATASET, revision=first.headers["x-repo-commit"]))
    assert old.json()["version_tag"] == "v1"


def test_resolve_typed_errors(stub: HubStub) -> None:
    with pytest.raises(RemoteEntryNotFoundError):
        hf_raise_for_status(get(stub.metadata_url(DATASET), AUTH))
    with pytest.raises(RevisionNotFoundError):
        hf_raise_for_status(get(stub.metadata_url(DATASET, revision="v9"), AUTH))
    with pytest.raises(RepositoryNotFoundError):
        hf_raise_for_status(get(stub.metadata_url("owner/missing"), AUTH))
    stub.put_file("owner/model", "config.json", "{}", repo_type="model")
    hf_raise_for_status(get(f"{stub.url}/owner/model/resolve/main/config.json"))


def test_private_dataset(stub: HubStub) -> None:
    stub.add_dataset("owner/secret", private=True)
    stub.put_file("owner/secret", "f.txt", "hidden")
    url = stub.metadata_url("owner/secret", "f.txt")
    anonymous = get(url)
    assert anonymous.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        hf_raise_for_status(anonymous)
    assert get(url, {"authorization": "Bearer hf_other"}).status_code == 404
    assert get(url, AUTH).text == "hidden"


# ---------------------------------------------------------------- faults, delays, hooks


def test_queued_503_is_served_once_then_service_resumes(stub: HubStub) -> None:
    stub.fail("POST", r"/restart$", 503, headers={"Retry-After": "7"})
    with pytest.raises(HfHubHTTPError) as info:
        api(stub).restart_space(SPACE)
    assert info.value.response.status_code == 503
    assert info.value.response.headers["Retry-After"] == "7"
    assert stub.restarts(SPACE) == 0  # the faulted request performed nothing
    assert api(stub).restart_space(SPACE).stage == "BUILDING"
    assert stub.restarts(SPACE) == 1
    assert [r.status for r in stub.posts()] == [503, 200]


def test_429_and_malformed_body(stub: HubStub) -> None:
    stub.fail("GET", r"/runtime$", 429, headers={"Retry-After": "3"}, times=2)
    for _ in range(2):
        with pytest.raises(HfHubHTTPError) as info:
            api(stub).get_space_runtime(SPACE)
        assert info.value.response.status_code == 429
        assert info.value.response.headers["Retry-After"] == "3"
    stub.fail("GET", r"/runtime$", 200, body="not json")
    with pytest.raises(json.JSONDecodeError):
        api(stub).get_space_runtime(SPACE)
    assert stub.requests[-1].status == 200
    assert api(stub).get_space_runtime(SPACE).stage == "RUNNING"


def test_delay_triggers_client_timeout_then_recovers(stub: HubStub) -> None:
    stub.delay("GET", r"/runtime$", 1.0)
    url = f"{stub.url}/api/spaces/{SPACE}/runtime"
    with pytest.raises(httpx2.TimeoutException):
        get(url, AUTH, timeout=0.2)
    assert get(url, AUTH, timeout=5).json()["stage"] == "RUNNING"


def test_request_bodies_are_read_and_connection_reused(stub: HubStub) -> None:
    session = get_session()
    assert session.post(f"{stub.url}/api/nothing", content=b"x" * 100_000).status_code == 404
    assert session.post(f"{stub.url}/api/nothing", content=iter([b"ab", b"cd"])).status_code == 404
    assert [r.body for r in stub.posts()] == [b"x" * 100_000, b"abcd"]
    assert api(stub).get_space_runtime(SPACE).stage == "RUNNING"


def test_on_restart_publishes_metadata(stub: HubStub) -> None:
    stub.put_metadata(DATASET, version_tag="v1", num_samples=100)
    stub.on_restart(SPACE, lambda s: s.put_metadata(DATASET, version_tag="v2", num_samples=200), delay=0.3)
    api(stub).restart_space(SPACE)
    url = stub.metadata_url(DATASET)
    assert get(url, AUTH).json()["version_tag"] == "v1"
    assert wait_for(lambda: get(url, AUTH).json()["version_tag"] == "v2")
    assert get(url, AUTH).json()["num_samples"] == 200
    assert stub.callback_errors == []


def test_on_restart_without_delay_runs_before_response(stub: HubStub) -> None:
    stub.on_restart(SPACE, lambda s: s.put_metadata(DATASET, version_tag="v3", num_samples=5, extra=True))
    api(stub).restart_space(SPACE)
    body = get(stub.metadata_url(DATASET), AUTH).json()
    assert body["version_tag"] == "v3" and body["extra"] is True and body["dataset_name"] == DATASET


def test_redirect_to_other_host_drops_authorization(stub: HubStub) -> None:
    with HubStub() as other:  # no valid tokens: a leaked header would also be a 401 there
        other.put_file(DATASET, "dataset_metadata.json", '{"version_tag": "elsewhere"}')
        stub.redirect(r"/resolve/", other.metadata_url(DATASET))
        response = get(stub.metadata_url(DATASET), AUTH)
        hf_raise_for_status(response)
        assert response.json() == {"version_tag": "elsewhere"}
        assert [r.status for r in stub.requests] == [302]
        assert stub.auth_headers_seen() == ["Bearer hf_good"]
        assert len(other.requests) == 1
        assert other.auth_headers_seen() == []



# ---------------------------------------------------------------- publishing with the real client

TAG = "v20250101_000000_abc123"
PUBLISHED = "owner/published"


def commit_payloads(stub: HubStub) -> list[list[dict]]:
    """The NDJSON items of every successful commit POST, oldest first."""
    return [
        [json.loads(line) for line in r.body.splitlines() if line.strip()]
        for r in stub.posts()
        if "/commit/" in r.path and r.status == 200
    ]


def files_in(items: list[dict]) -> dict[str, bytes]:
    """path -> decoded content of the ``file`` lines of one commit payload."""
    assert all(item["key"] in ("header", "file", "deletedFile", "deletedFolder") for item in items), items
    return {i["value"]["path"]: base64.b64decode(i["value"]["content"]) for i in items if i["key"] == "file"}


def no_lfs_or_xet_traffic(stub: HubStub) -> None:
    """Every request was answered and none went to an LFS batch or Xet token route."""
    seen = [(r.method, r.path, r.status) for r in stub.requests]
    assert not [s for s in seen if "lfs" in s[1] or "xet" in s[1]], seen
    assert not [s for s in seen if s[2] >= 400 and s[2] != 409], seen


def download(stub: HubStub, tmp: pathlib.Path, repo_id: str, filename: str, revision: str, **kwargs: object) -> bytes:
    path = hf_hub_download(
        repo_id,
        filename,
        revision=revision,
        endpoint=stub.url,
        token="hf_good",
        local_dir=tmp / f"dl-{revision}",
        cache_dir=tmp / "cache",
        **kwargs,  # type: ignore[arg-type]
    )
    return pathlib.Path(path).read_bytes()


def test_create_repo_new_existing_and_foreign_namespace(stub: HubStub) -> None:
    url = api(stub).create_repo(PUBLISHED, repo_type="dataset", exist_ok=True, private=False)
    assert url == f"{stub.url}/datasets/{PUBLISHED}"
    assert (url.repo_type, url.repo_id, url.endpoint) == ("dataset", PUBLISHED, stub.url)
    body = json.loads(stub.posts()[-1].body)
    assert body["name"] == "published" and body["organization"] == "owner" and body["type"] == "dataset"
    assert stub.commits(PUBLISHED) == 1 and stub.files(PUBLISHED) == {}

    # Existing: 409, which the client accepts with exist_ok and raises without it.
    assert api(stub).create_repo(PUBLISHED, repo_type="dataset", exist_ok=True) == url
    assert stub.posts()[-1].status == 409
    with pytest.raises(HfHubHTTPError) as info:
        api(stub).create_repo(PUBLISHED, repo_type="dataset")
    assert info.value.response.status_code == 409
    assert stub.commits(PUBLISHED) == 1

    # Another user's namespace: 403, also with exist_ok (the client's repo_info fallback finds nothing).
    for exist_ok in (False, True):
        with pytest.raises(HfHubHTTPError) as info:
            api(stub).create_repo("someone/theirs", repo_type="dataset", exist_ok=exist_ok)
        assert info.value.response.status_code == 403
    assert stub.commits("someone/theirs") == 0
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_bad").create_repo("owner/new", repo_type="dataset", exist_ok=True)
    assert info.value.response.status_code == 401
    assert stub.commits("owner/new") == 0

    # Models live under the prefix-less URL; a private repo is hidden from anonymous readers.
    model_url = api(stub).create_repo("owner/clf", repo_type="model", private=True)
    assert model_url == f"{stub.url}/owner/clf" and model_url.repo_type == "model"
    assert stub.commits("owner/clf", repo_type="model") == 1 and stub.commits("owner/clf") == 0
    stub.put_file("owner/clf", "config.json", "{}", repo_type="model")
    assert get(f"{stub.url}/owner/clf/resolve/main/config.json").status_code == 401
    assert get(f"{stub.url}/owner/clf/resolve/main/config.json", AUTH).content == b"{}"


@pytest.mark.parametrize("xet", [True, False], ids=["xet-pipeline", "legacy-commit"])
def test_upload_folder_tag_then_update_and_download_at_tag(
    stub: HubStub, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, xet: bool
) -> None:
    # With hf_xet usable, upload_folder takes the streamed Xet pipeline; without it, create_commit.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    if is_xet_available() != xet:
        pytest.skip("hf_xet is not installed")
    folder = tmp_path / "out"
    (folder / "data").mkdir(parents=True)
    parquet = os.urandom(300_000)
    (folder / "notes.txt").write_text("hello\n")
    (folder / "data" / "x.parquet").write_bytes(parquet)
    (folder / "dataset_metadata.json").write_text('{"version_tag": "old"}')

    hub = api(stub)
    hub.create_repo(PUBLISHED, repo_type="dataset", exist_ok=True)
    first = hub.upload_folder(repo_id=PUBLISHED, folder_path=folder, repo_type="dataset", commit_message="publish v1")
    assert re.fullmatch(r"[0-9a-f]{40}", first.oid) and first.oid == stub.head(PUBLISHED)
    assert first.commit_url == f"{stub.url}/datasets/{PUBLISHED}/commit/{first.oid}" and first.pr_url is None
    assert stub.commits(PUBLISHED) == 2
    assert stub.file(PUBLISHED, "data/x.parquet") == parquet
    assert stub.file(PUBLISHED, "notes.txt") == b"hello\n"
    assert stub.file(PUBLISHED, "dataset_metadata.json") == b'{"version_tag": "old"}'

    # Every file, the 300 kB binary included, travelled inline in one commit: no LFS, no Xet.
    [items] = commit_payloads(stub)
    assert items[0] == {"key": "header", "value": {"summary": "publish v1", "description": ""}}
    assert files_in(items)["data/x.parquet"] == parquet and len(files_in(items)) == 3
    no_lfs_or_xet_traffic(stub)

    hub.create_tag(PUBLISHED, tag=TAG, repo_type="dataset", revision=first.oid)
    assert stub.tags(PUBLISHED) == {TAG: first.oid}
    with pytest.raises(HfHubHTTPError) as info:
        hub.create_tag(PUBLISHED, tag=TAG, repo_type="dataset")
    assert info.value.response.status_code == 409
    hub.create_tag(PUBLISHED, tag=TAG, repo_type="dataset", exist_ok=True)

    (folder / "dataset_metadata.json").write_text('{"version_tag": "new"}')
    second = hub.upload_folder(repo_id=PUBLISHED, folder_path=folder, repo_type="dataset", commit_message="publish v2")
    assert second.oid != first.oid and stub.head(PUBLISHED) == second.oid
    assert stub.commits(PUBLISHED) == 3 and stub.tags(PUBLISHED) == {TAG: first.oid}
    # Preupload reported the oids of the files already there, so only the changed one was sent.
    assert list(files_in(commit_payloads(stub)[-1])) == ["dataset_metadata.json"]
    assert stub.file(PUBLISHED, "data/x.parquet") == parquet

    # The tag (and the commit sha) still serve the old version; main serves the new one.
    assert json.loads(download(stub, tmp_path, PUBLISHED, "dataset_metadata.json", TAG, repo_type="dataset")) == {
        "version_tag": "old"
    }
    assert json.loads(download(stub, tmp_path, PUBLISHED, "dataset_metadata.json", "main", repo_type="dataset")) == {
        "version_tag": "new"
    }
    assert json.loads(download(stub, tmp_path, PUBLISHED, "dataset_metadata.json", first.oid, repo_type="dataset")) == {
        "version_tag": "old"
    }
    assert download(stub, tmp_path, PUBLISHED, "data/x.parquet", TAG, repo_type="dataset") == parquet
    assert stub.file(PUBLISHED, "dataset_metadata.json", revision=TAG) == b'{"version_tag": "old"}'
    no_lfs_or_xet_traffic(stub)


@pytest.mark.parametrize("size", [200_000, 2_000_000])
def test_upload_file_binary_goes_inline_and_downloads_without_xet(
    stub: HubStub, tmp_path: pathlib.Path, size: int
) -> None:
    blob = os.urandom(size)
    hub = api(stub)
    hub.create_repo("owner/clf", exist_ok=True)  # a model repo
    info = hub.upload_file(path_or_fileobj=blob, path_in_repo="model.skops", repo_id="owner/clf", commit_message="m")
    assert info.commit_url == f"{stub.url}/owner/clf/commit/{info.oid}"
    [preupload] = [r for r in stub.posts() if "/preupload/" in r.path]
    assert preupload.path == "/api/models/owner/clf/preupload/main"
    assert json.loads(preupload.body)["files"][0] == {
        "path": "model.skops",
        "sample": base64.b64encode(blob[:512]).decode(),
        "size": size,
    }
    [items] = commit_payloads(stub)
    assert files_in(items) == {"model.skops": blob}
    assert stub.file("owner/clf", "model.skops", repo_type="model") == blob
    no_lfs_or_xet_traffic(stub)

    head = get_session().head(f"{stub.url}/owner/clf/resolve/main/model.skops", headers=AUTH)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size
    assert head.headers["x-repo-commit"] == info.oid
    assert not [h for h in head.headers if h.lower().startswith("x-xet") or h.lower() == "link"]
    assert download(stub, tmp_path, "owner/clf", "model.skops", info.oid) == blob
    ranged = get(f"{stub.url}/owner/clf/resolve/main/model.skops", {**AUTH, "range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == blob[10:20]


def test_upload_with_bad_or_foreign_token_commits_nothing(stub: HubStub, tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    stub.add_dataset(PUBLISHED)
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_bad").upload_folder(repo_id=PUBLISHED, folder_path=tmp_path, repo_type="dataset")
    assert info.value.response.status_code == 401
    assert info.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_other").upload_file(
            path_or_fileobj=b"x", path_in_repo="a.json", repo_id=PUBLISHED, repo_type="dataset"
        )
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as info:
        api(stub, token="hf_other").create_tag(PUBLISHED, tag="v1", repo_type="dataset")
    assert info.value.response.status_code == 403
    with pytest.raises(RepositoryNotFoundError):
        api(stub).upload_file(path_or_fileobj=b"x", path_in_repo="a.json", repo_id="owner/nope", repo_type="dataset")
    assert stub.commits(PUBLISHED) == 1 and stub.files(PUBLISHED) == {} and stub.tags(PUBLISHED) == {}
    assert not [r for r in stub.requests if "/commit/" in r.path and r.status == 200]


def test_commit_edge_cases_deletes_parent_commit_and_revisions(stub: HubStub) -> None:
    hub = api(stub)
    stub.add_dataset(PUBLISHED)
    ops = [CommitOperationAdd(f"dir/{n}.txt", n.encode()) for n in ("a", "b")]
    ops.append(CommitOperationAdd("keep.txt", b"k"))
    base = hub.create_commit(PUBLISHED, ops, commit_message="add", repo_type="dataset")
    hub.delete_file("keep.txt", PUBLISHED, repo_type="dataset")
    assert sorted(stub.files(PUBLISHED)) == ["dir/a.txt", "dir/b.txt"]
    hub.delete_folder("dir", PUBLISHED, repo_type="dataset")
    assert stub.files(PUBLISHED) == {}
    with pytest.raises(RemoteEntryNotFoundError):
        hub.delete_file("keep.txt", PUBLISHED, repo_type="dataset")
    # A stale parent_commit is refused; so are commits to a tag and LFS pointers.
    with pytest.raises(HfHubHTTPError) as info:
        hub.upload_file(
            path_or_fileobj=b"z", path_in_repo="z", repo_id=PUBLISHED, repo_type="dataset", parent_commit=base.oid
        )
    assert info.value.response.status_code == 412
    hub.create_tag(PUBLISHED, tag="old", revision=base.oid[:7], repo_type="dataset")
    assert stub.tags(PUBLISHED) == {"old": base.oid}
    with pytest.raises(HfHubHTTPError) as info:
        hub.upload_file(path_or_fileobj=b"z", path_in_repo="z", repo_id=PUBLISHED, repo_type="dataset", revision="old")
    assert info.value.response.status_code == 400
    lfs = b'{"key":"header","value":{"summary":"s"}}\n{"key":"lfsFile","value":{"path":"w","oid":"0"}}\n'
    response = get_session().post(f"{stub.url}/api/datasets/{PUBLISHED}/commit/main", content=lfs, headers=AUTH)
    assert response.status_code == 400 and "LFS" in response.json()["error"]
    with pytest.raises(RevisionNotFoundError):
        hub.create_tag(PUBLISHED, tag="v9", revision="nope", repo_type="dataset")
    assert stub.commits(PUBLISHED) == 4  # initial, add, delete file, delete folder


def test_repo_info_refs_tree_and_snapshot_download_at_tag(stub: HubStub, tmp_path: pathlib.Path) -> None:
    hub = api(stub)
    stub.add_dataset(PUBLISHED)
    first = hub.create_commit(
        PUBLISHED,
        [CommitOperationAdd("a.json", b'{"v": 1}'), CommitOperationAdd("data/x.bin", b"\x00\x01")],
        commit_message="one",
        repo_type="dataset",
    )
    hub.create_tag(PUBLISHED, tag=TAG, repo_type="dataset")
    hub.upload_file(path_or_fileobj=b'{"v": 2}', path_in_repo="a.json", repo_id=PUBLISHED, repo_type="dataset")
    hub.upload_file(path_or_fileobj=b"new", path_in_repo="later.txt", repo_id=PUBLISHED, repo_type="dataset")

    info = hub.dataset_info(PUBLISHED, revision=TAG)
    assert info.sha == first.oid and info.id == PUBLISHED
    assert sorted(s.rfilename for s in info.siblings or []) == ["a.json", "data/x.bin"]
    assert hub.dataset_info(PUBLISHED).sha == stub.head(PUBLISHED) != first.oid
    refs = hub.list_repo_refs(PUBLISHED, repo_type="dataset")
    assert [(t.name, t.target_commit) for t in refs.tags] == [(TAG, first.oid)]
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", stub.head(PUBLISHED))]
    assert sorted(hub.list_repo_files(PUBLISHED, repo_type="dataset", revision=TAG)) == ["a.json", "data/x.bin"]
    assert [e.path for e in hub.list_repo_tree(PUBLISHED, repo_type="dataset")] == ["a.json", "data", "later.txt"]

    local = pathlib.Path(
        snapshot_download(
            PUBLISHED, repo_type="dataset", revision=TAG, endpoint=stub.url, token="hf_good",
            local_dir=tmp_path / "snap", cache_dir=tmp_path / "cache",
        )
    )
    assert (local / "a.json").read_bytes() == b'{"v": 1}'
    assert (local / "data" / "x.bin").read_bytes() == b"\x00\x01"
    assert not (local / "later.txt").exists()
    with pytest.raises(RevisionNotFoundError):
        hub.dataset_info(PUBLISHED, revision="v0")
