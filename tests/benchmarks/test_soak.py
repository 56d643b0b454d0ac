"""`bench soak`: 200 turns in the real window with pictures and audio (issue 18): memory
settles, and no thread or open file is left behind per turn."""

from __future__ import annotations

import pytest
from PIL import Image

from desktop_assistant.ui.bench_soak import soak
from tests.fakes import FakeChatEngine, FakeSpeechEngine
from tests.fakes_audio import SPEECH_DEV


class _Vision(FakeChatEngine):
    reads_images = True

    def estimate_image_seconds(self, sizes, high_detail):
        return 0.1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_hundred_turns_leave_nothing_behind(qapp, tmp_path):
    picture = tmp_path / "p.png"
    Image.new("RGB", (320, 240), (10, 90, 200)).save(picture)
    engine = _Vision(tokens=["A ", "short ", "answer."])
    speech = FakeSpeechEngine(["Plan three rice dinners"] * 100)
    result = soak(
        lambda path: engine,
        "/models/fake",
        200,
        picture=picture,
        speech_factory=lambda path: speech,
        speech_model="/models/fake-whisper",
        audio=SPEECH_DEV / "dict02_rice_dinners.wav",
    )
    assert result["pictures"] == 40 and result["audio_files"] == 29
    assert len(engine.calls) == 200 and any(m.images for call in engine.calls for m in call)
    assert result["rss_growth_pct"] < 5, result
    assert result["threads_end"] <= result["threads_after_warm_up"], result
    assert result["open_files_end"] <= result["open_files_after_warm_up"], result
