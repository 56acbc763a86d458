"""Probe: dev exact match by epoch, to choose the number of epochs (not used by `dslforge train`).

Holds out 60 pairs of the GeoQuery standard train split (seeded shuffle), trains a LoRA with
the given settings through the same Trainer/collator/prompt as `dslforge train`, and every
``--every`` epochs decodes the held-out pairs greedily (batched HF generate, free decoding) and
prints the exact-match rate as JSON lines.

Run it (the numbers in docs/RESULTS.md: lr 1e-3, 8 epochs, batch 8, r 16, 1 thread)::

    .venv/bin/python -m training.probe_epochs --lr 1e-3 --epochs 8 --batch 8 --r 16 --threads 1
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--dev", type=int, default=60)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments, set_seed

    import dsl
    from engine.assets import default_model_dir
    from engine.prompting import build_prompt
    from training._warnings import third_party_warnings
    from training.features import PadCollator, encode_rows

    torch.set_num_threads(args.threads)
    geo = dsl.load("geoquery")
    rows = geo.examples(split="train")
    random.Random(0).shuffle(rows)
    dev, train = rows[: args.dev], rows[args.dev:]
    tok = AutoTokenizer.from_pretrained(default_model_dir())
    encoded = encode_rows(geo, tok, train, max_seq_len=512)
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(default_model_dir(), dtype=torch.float32)
    with third_party_warnings():
        model = get_peft_model(model, LoraConfig(r=args.r, lora_alpha=2 * args.r, lora_dropout=0.0,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    started = time.time()

    def dev_exact(m) -> float:
        m.eval()
        tok.padding_side = "left"
        hits = 0
        for i in range(0, len(dev), 20):
            chunk = dev[i: i + 20]
            batch = tok([build_prompt(geo, r["text"], tokenizer=tok) for r in chunk], return_tensors="pt",
                        padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = m.generate(**batch, max_new_tokens=60, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
            for row, ids in zip(chunk, out[:, batch["input_ids"].shape[1]:]):
                text = tok.decode(ids, skip_special_tokens=True).strip()
                hits += geo.is_valid_syntax(text) and geo.equal(text, row["code"])
        tok.padding_side = "right"
        m.train()
        return hits / len(dev)

    class Probe(TrainerCallback):  # type: ignore[misc]
        def on_epoch_end(self, a, state, control, model=None, **kw):  # noqa: ANN001
            epoch = round(state.epoch)
            if epoch % args.every == 0 or epoch == args.epochs:
                print(json.dumps({"epoch": epoch, "step": state.global_step, "dev_exact": dev_exact(model),
                                  "wall_s": round(time.time() - started)}), flush=True)

    with tempfile.TemporaryDirectory() as tmp, third_party_warnings():
        targs = TrainingArguments(output_dir=tmp, per_device_train_batch_size=args.batch, num_train_epochs=args.epochs,
                                  learning_rate=args.lr, lr_scheduler_type="cosine", warmup_steps=10,
                                  logging_steps=10, save_strategy="no", report_to=[], bf16=True,
                                  use_cpu=not torch.cuda.is_available(), seed=0, disable_tqdm=True,
                                  remove_unused_columns=False)
        Trainer(model=model, args=targs, train_dataset=encoded, data_collator=PadCollator(tok.pad_token_id),
                callbacks=[Probe()]).train()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
