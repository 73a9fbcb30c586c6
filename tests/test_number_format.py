"""Automatic bfloat16: on only where the processor runs it natively (issue: emulated bfloat16 on AVX-512 CPUs
without AVX512_BF16 or AMX is several times slower than float32)."""

import pytest

from helpers.clinicllm import config as config_module
from helpers.clinicllm.config import ClinicLLMConfig, cpu_bf16_decision

AVX2 = {"fpu", "sse4_2", "avx", "avx2", "fma"}
AVX512 = AVX2 | {"avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni"}


@pytest.mark.parametrize("flags, expected, words", [
    (AVX2, False, "no native bfloat16"),
    (AVX512, False, "only be emulated"),
    (AVX512 | {"avx512_bf16"}, True, "AVX512_BF16"),
    (AVX512 | {"amx_bf16", "amx_tile", "avx512_bf16"}, True, "AMX-BF16"),
    (set(), False, "no native bfloat16"),
])
def test_cpu_decision_follows_the_flags(flags, expected, words):
    decision = cpu_bf16_decision(flags)
    assert decision.bf16 is expected
    assert words in decision.reason
    assert decision.reason.startswith("bfloat16" if expected else "float32")


@pytest.mark.parametrize("cap, expected", [("AVX2", False), ("avx512_core", False), ("AVX512_CORE_VNNI", False),
                                           ("AVX512_CORE_BF16", True), ("AVX512_CORE_AMX", True), ("", True),
                                           (None, True)])
def test_an_isa_cap_below_bfloat16_turns_it_off(cap, expected):
    decision = cpu_bf16_decision(AVX512 | {"avx512_bf16"}, cap)
    assert decision.bf16 is expected
    if not expected:
        assert "ONEDNN_MAX_CPU_ISA" in decision.reason


def test_resolved_config_uses_the_decision(monkeypatch):
    monkeypatch.setattr(config_module.torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    for flags, expected in ((AVX512, False), (AVX512 | {"avx512_bf16"}, True), (AVX2, False)):
        monkeypatch.setattr(config_module, "cpu_flags", lambda flags=flags: set(flags))
        assert ClinicLLMConfig().resolved().bf16 is expected
        # An explicit setting always wins over the machine.
        assert ClinicLLMConfig(bf16=True).resolved().bf16 is True
        assert ClinicLLMConfig(bf16=False).resolved().bf16 is False


def test_cpu_flags_reads_this_machine():
    flags = config_module.cpu_flags()
    assert isinstance(flags, set)
    import platform
    if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
        assert "sse2" in flags
