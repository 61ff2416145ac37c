"""scripts/gpu_check.py runs end to end (here on CPU, one tiny case per section) and writes its
markdown and JSON; on CPU the cuDNN engine reports why it did not run."""

import json

from tests.helpers import ROOT
from tests.spawn import run


def test_gpu_check_smoke_run_writes_markdown_and_json(tmp_path):
    out = tmp_path / "gpu_check"
    run([str(ROOT / "scripts" / "gpu_check.py"), "--smoke", "--out", str(out)])
    result = json.loads(out.with_suffix(".json").read_text())
    assert [r["status"] for r in result["parity"] if r["engine"] == "xla"] == ["ok"]
    assert "it needs an NVIDIA GPU" in next(r["status"] for r in result["parity"] if r["engine"] == "cudnn")
    assert set(result["timings"][0]["median_ms"]) == {"jaxrnn xla", "torch.nn", "flax"}
    assert result["mingru"][0]["T"] == 64
    simple_gla = [r for r in result["ops"] if r["op"] == "simple_gla"]
    assert [r["dtype"] for r in simple_gla] == ["float32", "bfloat16"]
    assert simple_gla[0]["chunked_gradient_error"] < 1e-4 and set(simple_gla[0]["median_ms"]) == {"recurrent", "chunked"}
    text = out.with_suffix(".md").read_text()
    assert "## Parity against the reference engine" in text and "| lstm | float32 | xla |" in text
