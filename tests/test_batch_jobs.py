"""Batch job files, price tables and the journal: no network."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from astria_async.batch import (
    BatchRunner,
    JobFileError,
    PriceTable,
    StateLockedError,
    job_from_spec,
    load_jobs,
    parse_jobs,
)
from astria_async.batch._journal import CREATING, DONE, PENDING, Mark
from astria_async.batch._recover import matches
from astria_async.batch._state import SqliteJournal
from astria_async.errors import ConfigurationError
from astria_async.models import Prompt


def lines(*specs: object) -> list[str]:
    return [s if isinstance(s, str) else json.dumps(s) for s in specs]


def test_parse_keys_and_params() -> None:
    jobs = parse_jobs(lines({"tune_id": 7, "text": "a cat", "num_images": 2},
                            "",
                            {"tune_id": 7, "text": "a dog", "key": "dog-1", "seed": 5}))
    assert [j.line for j in jobs] == [1, 3]
    assert jobs[0].key.startswith("j") and len(jobs[0].key) == 17
    assert jobs[1].key == "dog-1"
    assert jobs[0].params.num_images == 2 and jobs[1].params.seed == 5
    assert jobs[0].spec == {"tune_id": 7, "text": "a cat", "num_images": 2}


def test_key_is_the_content_not_the_line() -> None:
    spec = {"tune_id": 7, "text": "a cat"}
    assert job_from_spec(spec, line=3).key == job_from_spec(dict(spec), line=3).key
    assert job_from_spec(spec, line=3).key == job_from_spec(spec, line=4).key
    assert job_from_spec(spec, line=3).key != job_from_spec({**spec, "seed": 1}, line=3).key
    assert job_from_spec(spec).key != job_from_spec({**spec, "tune_id": 8}).key
    # Normalised: key order, nulls and Unicode composition do not make another job.
    assert job_from_spec({"text": "a cat", "seed": None, "tune_id": 7}).key == \
        job_from_spec(spec).key
    assert job_from_spec({"tune_id": 7, "text": "caf\u00e9"}).key == \
        job_from_spec({"tune_id": 7, "text": "cafe\u0301"}).key


def test_identical_lines_without_keys_are_refused_with_both_line_numbers() -> None:
    with pytest.raises(JobFileError) as info:
        parse_jobs(lines({"tune_id": 7, "text": "a"}, {"tune_id": 7, "text": "b"},
                         {"tune_id": 7, "text": "a"}))
    [error] = info.value.errors
    assert error.line == 3 and "lines 1 and 3 are identical" in error.message
    assert "own \"key\"" in error.message
    keyed = parse_jobs(lines({"tune_id": 7, "text": "a", "key": "a1"},
                             {"tune_id": 7, "text": "a", "key": "a2"}))
    assert [j.key for j in keyed] == ["a1", "a2"]


def test_bom_non_utf8_and_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"tune_id": 7, "text": "a"}).encode()
                     + b"\n")
    assert [j.params.text for j in load_jobs(path)] == ["a"]
    path.write_bytes(b'{"tune_id": 7, "text": "ok"}\n{"tune_id": 7, "text": "\xff"}\n'
                     + b"[" * 100_000 + b"\n")
    with pytest.raises(JobFileError) as info:
        load_jobs(path)
    assert [(e.line, e.message.split(" (")[0]) for e in info.value.errors] == [
        (2, "not UTF-8 text"), (3, "invalid JSON: nested too deeply")]


def test_every_bad_line_is_reported_with_its_number() -> None:
    with pytest.raises(JobFileError) as info:
        parse_jobs(lines(
            {"tune_id": 7, "text": "ok"},
            "{not json",
            {"tune_id": 7, "text": "x", "num_images": 9},
            {"tune_id": "7", "text": "x"},
            {"tune_id": 7},
            {"tune_id": 7, "text": "x", "colour": "red"},
            {"tune_id": 7, "text": "y", "key": "a"},
            {"tune_id": 7, "text": "z", "key": "a"},
            "[1, 2]",
        ), source="jobs.jsonl")
    errors = {e.line: e for e in info.value.errors}
    assert sorted(errors) == [2, 3, 4, 5, 6, 8, 9]
    assert "invalid JSON" in errors[2].message
    assert errors[3].field == "num_images" and "1 to 8" in errors[3].message
    assert errors[4].field == "tune_id"
    assert errors[5].field == "text"
    assert errors[6].field == "colour"
    assert "already used on line 7" in errors[8].message
    assert "jobs.jsonl: line 2" in str(info.value) and "nothing was sent" in str(info.value)


def test_keys_that_share_an_image_folder_are_refused() -> None:
    with pytest.raises(JobFileError, match="same image folder"):
        parse_jobs(lines({"tune_id": 1, "text": "a", "key": "a/b"},
                         {"tune_id": 1, "text": "b", "key": "a_b"}))


def test_file_paths_are_relative_to_the_job_file(tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(b"\x89PNG fake")
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(json.dumps({"tune_id": 1, "text": "t", "input_image": "in.png"}) + "\n")
    [job] = load_jobs(jobs_file)
    assert job.params.input_image == str(tmp_path / "in.png")
    jobs_file.write_text(json.dumps({"tune_id": 1, "text": "t", "input_image": "no.png"}))
    with pytest.raises(JobFileError, match="no such file"):
        load_jobs(jobs_file)


def test_price_table() -> None:
    table = PriceTable.from_dict({"per_image_mc": 1000, "per_prompt_mc": 50,
                                  "tunes": {"9": 5000}, "default_num_images": 2})
    [a, b, c, lora] = parse_jobs(lines(
        {"tune_id": 1, "text": "x", "num_images": 3},
        {"tune_id": 9, "text": "x", "num_images": 3},
        {"tune_id": 1, "text": "x"},
        {"tune_id": 1504944, "text": "<lora:77:1> ohwx man"}))
    assert table.job_cost(a) == 3050
    assert table.job_cost(b) == 15050
    assert table.job_cost(c) == 2050
    assert table.job_cost(a, fast_tunes={1}) == 0
    assert table.job_cost(lora, fast_tunes={77}) == 0  # a fast LoRA makes the prompt a mock
    assert table.job_cost(lora) == 2050
    assert PriceTable().job_cost(a) == 9000  # default: 3,000 mc per image


@pytest.mark.parametrize("data", [[], {"per_image_mc": -1}, {"bogus": 1},
                                  {"tunes": {"x": 1}}, {"per_image_mc": True}])
def test_bad_price_tables(data: object) -> None:
    with pytest.raises(ConfigurationError, match="price table"):
        PriceTable.from_dict(data)


async def claimed(path: Path) -> SqliteJournal:
    journal = SqliteJournal(path)
    await journal.claim()
    return journal


async def test_journal_is_wal_durable_and_locked(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "state.db"  # folders are created
    jobs = parse_jobs(lines({"tune_id": 1, "text": "a"}, {"tune_id": 1, "text": "b"}))
    journal = await claimed(path)
    await journal.add(jobs)
    await journal.add(jobs)  # idempotent
    await journal.creating([Mark(jobs[0].key, 3000)])
    with pytest.raises(StateLockedError, match=r"in use by pid \d+ on "):
        await claimed(path)
    # Another connection sees the committed state at once.
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT status FROM jobs WHERE key = ?",
                         (jobs[0].key,)).fetchone()[0] == CREATING
    other.close()
    await journal.created(jobs[0].key, 42, 2500)
    await journal.done(jobs[0].key, 4)
    rows = await journal.rows()
    assert rows[jobs[0].key].status == DONE and rows[jobs[0].key].prompt_id == 42
    assert rows[jobs[0].key].cost_mc == 2500 and rows[jobs[0].key].creates == 1
    assert rows[jobs[1].key].status == PENDING
    assert journal.durable_commits == 3  # the adds and the creating mark: nothing else
    await journal.close()
    await journal.close()  # idempotent
    await (await claimed(path)).close()  # the lock was released


async def test_plan_reads_an_existing_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    jobs = parse_jobs(lines(*({"tune_id": 1, "text": f"p{i}", "num_images": 1}
                              for i in range(4))))
    journal = await claimed(path)
    await journal.add(jobs)
    await journal.creating([Mark(jobs[0].key, 3000), Mark(jobs[1].key, 3000)])
    await journal.created(jobs[0].key, 10)
    await journal.created(jobs[1].key, 11)
    await journal.done(jobs[1].key, 1)
    await journal.close()
    plan = await BatchRunner(None, path, max_cost=10_000).plan(jobs)
    assert (plan.total, plan.done, plan.to_resume, plan.to_create) == (4, 1, 1, 2)
    assert plan.spent_mc == 6000 and plan.estimated_mc == 6000 and plan.fits == 1
    fresh = await BatchRunner(None, tmp_path / "none.db").plan(jobs)
    assert fresh.to_create == 4 and not (tmp_path / "none.db").exists()


def test_recovery_matching() -> None:
    spec = {"tune_id": 1, "text": "a cat", "num_images": 2, "seed": 5, "cfg_scale": 3.5}
    assert matches(spec, Prompt(id=1, text="a cat", num_images=2, seed=5, cfg_scale=3.5))
    assert matches(spec, Prompt(id=1, text="a cat"))  # attributes not echoed: no evidence
    assert not matches(spec, Prompt(id=1, text="a cat ", num_images=2))
    assert not matches(spec, Prompt(id=1, text="a cat", num_images=4))
    assert not matches(spec, Prompt(id=1, text="a cat", cfg_scale=3.0))



async def test_unsent_jobs_take_the_new_spec_sent_ones_keep_theirs(tmp_path: Path) -> None:
    journal = await claimed(tmp_path / "s.db")
    sent, unsent = (job_from_spec({"tune_id": 1, "text": t, "key": t}, line=1)
                    for t in ("sent", "unsent"))
    await journal.add([sent, unsent])
    await journal.creating([Mark(sent.key, 0)])
    edited = [job_from_spec({"tune_id": 2, "text": f"{j.key} v2", "key": j.key}, line=5)
              for j in (sent, unsent)]
    await journal.add(edited)
    rows = await journal.rows()
    await journal.close()
    assert json.loads(rows["sent"].spec)["text"] == "sent" and rows["sent"].tune_id == 1
    assert json.loads(rows["unsent"].spec)["text"] == "unsent v2"
    assert (rows["unsent"].tune_id, rows["unsent"].line) == (2, 5)
