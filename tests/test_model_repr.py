"""Short reprs: a Tune or a Prompt shows what identifies it and its state, never `raw`."""

from __future__ import annotations

from datetime import datetime, timezone

from astria_async import Prompt, Tune

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
RAW = {"args": "x" * 2000, "orig_images": ["https://example.com/" + "a" * 300] * 20}


def test_tune_repr_is_one_short_line() -> None:
    tune = Tune.from_dict({"id": 1000001, "title": "order-" + "7" * 80, "name": "man",
                           "branch": "flux1", "model_type": "lora", "base_tune_id": 1504944,
                           "trained_at": "2026-01-01T00:00:00Z", **RAW})
    text = repr(tune)
    assert text == (f"Tune(id=1000001, title='order-{'7' * 33}…', "
                    "name='man', branch='flux1', model_type='lora', base_tune_id=1504944, "
                    "state='trained')")
    assert "x" * 50 not in text and "orig_images" not in text
    assert repr(Tune(id=2, started_training_at=NOW)) == "Tune(id=2, state='training')"
    assert repr(Tune(id=3)) == "Tune(id=3, state='queued')"


def test_prompt_repr_is_one_short_line() -> None:
    prompt = Prompt.from_dict({"id": 20000001, "tune_id": 1504944,
                               "text": "<lora:1000001:1> ohwx man in a suit on a beach at dusk",
                               "num_images": 4, "images": ["https://mp.astria.ai/a"] * 4,
                               "tunes": [{"id": 1000001, "title": "t"}], **RAW})
    text = repr(prompt)
    assert text == ("Prompt(id=20000001, tune_id=1504944, text='<lora:1000001:1> ohwx man "
                    "in a suit on …', num_images=4, images=4, state='done')")
    failed = Prompt(id=5, user_error="NSFW content detected in the output images, retry")
    assert repr(failed) == "Prompt(id=5, state='failed: NSFW content detected in the …')"
    assert repr(Prompt(id=6, text="short")) == "Prompt(id=6, text='short', state='pending')"
    assert len(repr(prompt)) < 160 and len(repr(Prompt.from_dict(RAW | {"id": 7}))) < 60
