"""alignlab's LLaMA-Factory exports, parsed by LLaMA-Factory's own argument classes.

LLaMA-Factory does not install beside alignlab's pinned stack (llamafactory 0.9.5 pins trl 0.24 and
transformers 5.6; alignlab runs trl 1.12 and transformers 5.23), so this runs in two environments:

    python tests/benchmarks/llamafactory_exports.py --write DIR     # alignlab's venv: one export per shipped
                                                                    # run config, and one on LLaMA-Factory's demo data
    python3 -m venv /tmp/lf-venv && /tmp/lf-venv/bin/pip install torch==2.13.0 llamafactory
    /tmp/lf-venv/bin/python tests/benchmarks/llamafactory_exports.py --parse DIR

``--parse`` reads every YAML in DIR with ``llamafactory.hparams.parser._parse_train_args`` (HfArgumentParser
over ModelArguments, DataArguments, TrainingArguments, FinetuningArguments, GeneratingArguments: an
unknown key is an error), then runs ``get_train_args`` (the checks LLaMA-Factory makes before training).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO.parent / "shared" / "data" / "llama-factory" / "dpo_en_demo.json"


def write(folder: Path) -> None:
    from alignlab.errors import UserInputError
    from alignlab.run.assets import task_assets
    from alignlab.run.config import RunConfig, load_run_config
    from alignlab.sweep.best import BestTrial
    from alignlab.sweep.export import export_best

    task_assets()  # the built-in models, so the exports name folders

    def best_of(config: RunConfig) -> BestTrial:
        return BestTrial(1, {}, [0.0], {}, "shipped run config", config.to_dict(), None, None, False)

    configs = {p.stem: load_run_config(p) for p in sorted((REPO / "sweeps" / "runs").glob("*.yaml"))}
    if DEMO.is_file():
        dpo = configs["dpo"].to_dict()
        configs["dpo-demo"] = RunConfig.model_validate({**dpo, "data": {"path": str(DEMO)}})
    for name, config in configs.items():
        try:
            exported = export_best(best_of(config), folder / f"{name}.yaml", name=f"lf-{name}", format="llamafactory")
        except UserInputError as exc:
            print(f"{name}: not exported: {exc.problems[0]}")
            continue
        print(f"{name}: {exported.path} ({len(exported.unexpressed)} settings listed as not expressible)")


def parse(folder: Path) -> int:
    import yaml
    from llamafactory.hparams.parser import _parse_train_args, get_train_args

    failed = 0
    for path in sorted(folder.glob("*.yaml")):
        settings = yaml.safe_load(path.read_text())
        try:
            _, data, training, finetuning, _ = _parse_train_args(dict(settings))
        except BaseException as exc:  # HfArgumentParser raises ValueError or exits
            failed += 1
            print(f"{path.name}: REFUSED by LLaMA-Factory's argument classes: {exc}")
            continue
        line = (
            f"{path.name}: parsed (stage {finetuning.stage}, pref_loss {finetuning.pref_loss}, pref_beta "
            f"{finetuning.pref_beta}, pref_ftx {finetuning.pref_ftx}, lora_rank {finetuning.lora_rank}, "
            f"learning_rate {training.learning_rate}, cutoff_len {data.cutoff_len})"
        )
        try:
            get_train_args(dict(settings))
            line += "; get_train_args: ok"
        except BaseException as exc:  # its checks raise several kinds
            line += f"; get_train_args: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        print(line)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, metavar="DIR")
    group.add_argument("--parse", type=Path, metavar="DIR")
    args = parser.parse_args()
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        write(args.write)
        return 0
    return parse(args.parse)


if __name__ == "__main__":
    sys.exit(main())
