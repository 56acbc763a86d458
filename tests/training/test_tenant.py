"""Tenant adapters (issue #6): replay mixing, the gate, publishing, and a bad run the gate refuses.

The pure pieces are unit tests. The integration tests train on a tiny random Llama with the
real SmolLM2 tokenizer: a "general" adapter that has memorised one general flow (so general
exact match before = 100%), then tenant runs from it:

- replay 0, high learning rate, many steps on tenant rows only: the model forgets the general
  flow, the gate refuses, nothing is published, the CLI exits 1 (issue #6, "done when");
- the same data with a margin of 100 points: published, with ``tenant_report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from training.errors import ConfigError, DataError, TrainingError
from training.tenant import (
    REPORT,
    TenantConfig,
    changed_examples,
    check_rows,
    gate,
    general_subsample,
    mix_replay,
    resolve_catalog,
    train_tenant,
)

WF = dsl.load("workflow")
GENERAL_ROW = {"id": "wf-01390", "split": "train",
               "text": "Please build an automation. Each time somebody @mentions me in Teams: wait 15 minutes.",
               "code": "flow { trigger teams.on_mention() schedule.delay(minutes: 15) }"}
CONTOSO_ROWS = [
    {"id": "c-train-1", "tenant": "contoso", "split": "train",
     "text": "When an order gets paid in Shopify: get the stock level in plant BER1 of material \"BOLT-6\".",
     "code": 'flow { trigger shopify.on_order_paid() contoso_erp.get_stock(material: "BOLT-6", plant: "BER1") }'},
    {"id": "c-test-1", "tenant": "contoso", "split": "test",
     "text": "When an order gets paid in Shopify: get the stock level in plant BER1 of material \"NUT-2\".",
     "code": 'flow { trigger shopify.on_order_paid() contoso_erp.get_stock(material: "NUT-2", plant: "BER1") }'},
    {"id": "f-train-1", "tenant": "fabrikam", "split": "train",
     "text": "When an order gets paid via Shopify, list the team managed by the email address of the order.",
     "code": "flow { trigger shopify.on_order_paid() fabrikam_hr.list_team(manager: trigger.email) }"},
]


# -- pure pieces ----------------------------------------------------------------------------------
@given(n_tenant=st.integers(1, 60), n_general=st.integers(0, 300),
       replay=st.floats(0.0, 0.9, allow_nan=False), seed=st.integers(0, 5))
@settings(max_examples=60, deadline=None)
def test_mix_replay_keeps_every_tenant_row_and_the_asked_share(n_tenant, n_general, replay, seed) -> None:
    tenant = [{"id": f"t{i}"} for i in range(n_tenant)]
    general = [{"id": f"g{i}"} for i in range(n_general)]
    mixed = mix_replay(tenant, general, replay=replay, seed=seed)
    ids = [r["id"] for r in mixed]
    assert sorted(i for i in ids if i.startswith("t")) == sorted(r["id"] for r in tenant)
    n_replay = sum(i.startswith("g") for i in ids)
    assert len(set(ids)) == len(ids)  # no general row twice
    assert n_replay == min(n_general, round(n_tenant * replay / (1 - replay)))
    assert mixed == mix_replay(tenant, general, replay=replay, seed=seed)  # seeded


def test_no_replay_means_tenant_rows_only() -> None:
    assert mix_replay([{"id": "t"}], [{"id": "g"}], replay=0.0, seed=0) == [{"id": "t"}]
    with pytest.raises(ConfigError, match="--replay"):
        mix_replay([{"id": "t"}], [], replay=1.0, seed=0)


# (before, after, margin, refused keys)
GATE_CASES = [
    ((80.0, 0.90), (80.0, 0.90), 1.0, []),
    ((80.0, 0.90), (79.0, 0.89), 1.0, []),  # exactly the margin is allowed
    ((80.0, 0.90), (78.9, 0.90), 1.0, ["exact match"]),
    ((80.0, 0.90), (80.0, 0.885), 1.0, ["similarity"]),
    ((80.0, 0.90), (60.0, 0.70), 1.0, ["exact match", "similarity"]),
    ((80.0, 0.90), (95.0, 0.99), 0.0, []),  # gains never refuse
    ((80.0, 0.90), (60.0, 0.70), 100.0, []),
]


@pytest.mark.parametrize("before,after,margin,refused", GATE_CASES)
def test_gate(before, after, margin, refused) -> None:
    reasons = gate({"exact_match": before[0], "similarity": before[1]},
                   {"exact_match": after[0], "similarity": after[1]}, margin=margin)
    assert len(reasons) == len(refused)
    for reason, key in zip(reasons, refused):
        assert key in reason and f"margin of {margin}" in reason


def test_general_subsample_is_fixed_and_in_split_order() -> None:
    rows = [{"id": i} for i in range(50)]
    a = general_subsample(rows, 10, seed=0)
    assert a == general_subsample(rows, 10, seed=0) and len(a) == 10
    assert [r["id"] for r in a] == sorted(r["id"] for r in a)
    assert general_subsample(rows, 500, seed=0) == rows


def test_changed_examples_names_fixed_and_broken_rows() -> None:
    before = [{"id": 1, "text": "a", "gold": "g", "prediction": "x", "exact": False},
              {"id": 2, "text": "b", "gold": "h", "prediction": "h", "exact": True},
              {"id": 3, "text": "c", "gold": "i", "prediction": "i", "exact": True}]
    after = [dict(before[0], prediction="g", exact=True), dict(before[1], prediction="y", exact=False), before[2]]
    assert [(c["id"], c["change"]) for c in changed_examples(before, after)] == [(1, "fixed"), (2, "broken")]


def test_tenant_config_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as e:
        TenantConfig(replay=1.5, margin=-1, general_eval_n=0)
    assert {"--replay", "--margin", "--general-eval-n"} <= {p.split()[0] for p in e.value.problems}


def test_rows_are_checked_against_the_tenant_catalog() -> None:
    contoso, _ = resolve_catalog(WF, "contoso")
    check_rows(WF, CONTOSO_ROWS[:2], catalog=contoso, where="x")
    with pytest.raises(DataError, match="f-train-1: unknown"):  # fabrikam's connector is not contoso's
        check_rows(WF, CONTOSO_ROWS, catalog=contoso, where="x")


def test_catalog_errors_are_named() -> None:
    with pytest.raises(TrainingError, match="tenant 'initech' not found.*available: \\['contoso', 'fabrikam'\\]"):
        resolve_catalog(WF, "initech")
    with pytest.raises(TrainingError, match="no connector catalog"):
        resolve_catalog(dsl.load("geoquery"), "contoso")


def test_bad_arguments_are_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError) as e:
        train_tenant(language=WF, tenant="contoso", init_adapter=tmp_path / "nope", data=tmp_path / "d.jsonl",
                     catalog="contoso", out_dir=tmp_path / "out")
    text = str(e.value)
    assert "already exists" in text and "--init-adapter" in text


# -- integration: a tiny model, a real gate --------------------------------------------------------
FAST = ["--train.precision=fp32", "--train.batch_size=1", "--train.eval_limit=0", "--train.logging_steps=10",
        "--train.warmup_steps=0", "--train.scheduler=constant", "--train.seed=0", "--train.save_steps=1000"]


@pytest.fixture(scope="module")
def tenant_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Llama, a general adapter that knows GENERAL_ROW by heart, and the data files."""
    from training.config import resolve_config
    from training.train import train

    root = tmp_path_factory.mktemp("tenant")
    base = _tiny_llama(root / "tiny-llama")
    general_data = root / "general.jsonl"
    general_data.write_text(json.dumps(GENERAL_ROW) + "\n" + json.dumps(dict(GENERAL_ROW, split="test")) + "\n",
                            encoding="utf-8")
    tenant_data = root / "tenant.jsonl"
    tenant_data.write_text("".join(json.dumps(r) + "\n" for r in CONTOSO_ROWS), encoding="utf-8")
    cfg = resolve_config(overrides=FAST + ["--train.learning_rate=0.02", "--train.max_steps=20"])
    train(language=WF, out_dir=root / "general", base=base, config=cfg, data=general_data, progress=False)
    return {"root": root, "base": base, "general": root / "general", "general_data": general_data,
            "tenant_data": tenant_data}


def _tiny_llama(folder: Path) -> Path:
    """Like tests/training/conftest.make_tiny_llama, but hidden 64 and embeddings drawn with std
    0.5: the default 0.02 caps the logits near 1 (a frozen tied head), so a LoRA cannot make the
    model recite a flow; with these, 20 steps at lr 0.02 do (measured: loss 19.8 -> 0.8)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from engine.assets import load_reference_tokenizer

    tokenizer = load_reference_tokenizer("smollm2")
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, tie_word_embeddings=True,
        initializer_range=0.5, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _cli(args: list[str]) -> int:
    from dslforge.cli import main

    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.mark.integration
def test_a_forgetful_tenant_run_is_refused_by_the_gate(tenant_setup, capsys) -> None:
    # Issue #6: no replay, many steps at a high learning rate on tenant rows only.
    s = tenant_setup
    out = s["root"] / "contoso-bad"
    code = _cli(["train", "--dsl", "workflow", "--tenant", "contoso", "--init-adapter", str(s["general"]),
                 "--data", str(s["tenant_data"]), "--catalog", "contoso", "--out", str(out),
                 "--base", str(s["base"]), "--general-data", str(s["general_data"]), "--replay", "0",
                 "--quiet", *FAST, "--train.learning_rate=0.05", "--train.max_steps=20"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "REFUSED" in captured.err and "general exact match fell 100.0 points" in captured.err
    assert not out.exists()  # nothing published
    report = json.loads((out.with_name(out.name + ".candidate") / REPORT).read_text(encoding="utf-8"))
    assert report["published"] is False and report["train"]["replay_rows"] == 0
    assert report["general"]["before"]["exact_match"] == 100.0  # the general adapter knew the flow
    assert report["general"]["after"]["exact_match"] == 0.0
    assert [c["change"] for c in report["general"]["changed"]] == ["broken"]


@pytest.mark.integration
def test_a_run_within_the_margin_is_published_with_its_report(tenant_setup) -> None:
    s = tenant_setup
    out = s["root"] / "contoso"
    result = train_tenant(language=WF, tenant="contoso", init_adapter=s["general"], data=s["tenant_data"],
                          catalog="contoso", out_dir=out, base=s["base"], general_data=s["general_data"],
                          config=_config(FAST + ["--train.learning_rate=0.001", "--train.max_steps=2"]),
                          tenant_config=TenantConfig(replay=0.5, margin=100.0), progress=False)
    assert result.out_dir == out and (out / "adapter_model.safetensors").is_file()
    assert not out.with_name(out.name + ".candidate").exists()
    report = json.loads((out / REPORT).read_text(encoding="utf-8"))
    assert report["published"] is True and report["refused_because"] == []
    assert report["train"] == dict(report["train"], tenant_rows=1, replay_rows=1, mixed_rows=2)
    assert report["tenant_test"]["n"] == 1 and report["general"]["ids"] == ["wf-01390"]
    for part in ("general", "tenant_test"):
        assert {"exact_match", "similarity"} <= set(report[part]["before"]) & set(report[part]["after"])
    # the published adapter loads on the base next to the general one
    from engine import Engine

    eng = Engine.load(WF, model=str(s["base"]), adapters={"general": str(s["general"]), "contoso": str(out)},
                      shipped_adapter=False)
    assert eng.generate(GENERAL_ROW["text"], adapter="general", max_new_tokens=64).code == GENERAL_ROW["code"]


def _config(overrides: list[str]):
    from training.config import resolve_config

    return resolve_config(overrides=overrides)


def test_cli_tenant_run_names_the_missing_flags(capsys) -> None:
    code = _cli(["train", "--dsl", "workflow", "--tenant", "contoso", "--out", "/tmp/never-written"])
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())  # typer draws a wrapped box
    assert code == 2
    assert "a tenant run needs --init-adapter, --data, --catalog too" in err
    assert not Path("/tmp/never-written").exists()
