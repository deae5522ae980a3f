#!/usr/bin/env python
"""Task-agnostic (general) distillation of a pre-trained encoder on raw text.

    accelerate launch recipes/run_general_distill.py --config recipes/configs/general_tinybert.yaml [--flag value ...]
    python recipes/run_general_distill.py --teacher_model bert-base-uncased --general_preset distilbert \\
        --student_init every_other --text_files corpus.txt --output_dir out --max_steps 10000

Arguments: `CorpusArguments` (the text, packing, masking), `StudentArguments` (teacher, student and optional
teacher assistant) and `hf_distill.GeneralDistillationArguments` (every `TrainingArguments` flag plus the
distillation settings and ``--general_preset distilbert|tinybert|minilm|minilmv2|mobilebert``), from a YAML/JSON
file given with ``--config`` and/or command-line flags (the command line wins). The student is saved to
``output_dir`` (``output_dir/assistant`` and ``output_dir/student`` with an assistant) as an ordinary model:
``AutoModel.from_pretrained(output_dir)`` (or ``AutoModelForSequenceClassification`` to fine-tune it). Bad input (an
unknown flag or config key, a value of the wrong type, a missing file) stops the run with one line on stderr and exit
code 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field

from transformers import AutoModel, AutoTokenizer, PreTrainedModel, set_seed
from transformers.trainer_utils import get_last_checkpoint

from hf_distill.finite import NonFiniteTrainingError
from hf_distill.hub.redaction import redact
from hf_distill.methods.general.assistant import ChainStage, chain_distillation
from hf_distill.methods.general.corpus import load_text_corpus, pack_blocks
from hf_distill.methods.general.general_config import GENERAL_PRESETS, GeneralDistillationArguments
from hf_distill.methods.general.general_trainer import (
    GeneralDistillationTrainer,
    build_general_student,
    load_general_teacher,
    student_auto_class,
)
from hf_distill.methods.general.masking import DynamicMaskingCollator
from hf_distill.recipes.config import CONFIG_HELP, RecipeArgumentParser, parse_with_config


@dataclass
class CorpusArguments:
    text_files: list[str] | None = field(
        default=None,
        metadata={
            "help": "Local corpus files: .txt (a document per line), .tsv/.csv/.json(l)/.parquet (text_columns)."
        },
    )
    dataset_name: str | None = field(default=None, metadata={"help": "A Hub dataset instead of text_files."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "The Hub dataset's configuration."})
    dataset_split: str = field(default="train", metadata={"help": "The Hub dataset's split."})
    text_columns: list[str] = field(
        default_factory=lambda: ["text"],
        metadata={"help": "Columns holding text in table files / Hub datasets (those present are used)."},
    )
    streaming: bool = field(
        default=False,
        metadata={"help": "Read the corpus lazily (needs max_steps); otherwise memory-mapped Arrow files."},
    )
    block_size: int = field(default=128, metadata={"help": "Tokens per packed block, special tokens included."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens chosen for masking."})
    whole_word_mask: bool = field(default=False, metadata={"help": "Mask every piece of a chosen word."})
    max_train_blocks: int | None = field(default=None, metadata={"help": "Use only the first N blocks."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for packing."})
    corpus_cache_dir: str | None = field(default=None, metadata={"help": "Where `datasets` keeps its Arrow files."})


@dataclass
class StudentArguments:
    teacher_model: str | None = field(
        default=None, metadata={"help": "The pre-trained (not fine-tuned) teacher: a local folder or Hub id."}
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer (default: the teacher's)."})
    student_model: str | None = field(
        default=None, metadata={"help": "Start from this student checkpoint instead of building one."}
    )
    student_init: str = field(
        default="random",
        metadata={
            "help": "'random' (fresh student of the given size), or the teacher layers to copy: 'every_other' "
            "(DistilBERT), 'first_k', or a list such as '0,2,4' (the student keeps the teacher's width)."
        },
    )
    student_num_layers: int = field(default=4, metadata={"help": "Student transformer layers."})
    student_hidden_size: int | None = field(default=None, metadata={"help": "Student width (default: teacher's)."})
    student_num_heads: int | None = field(default=None, metadata={"help": "Student heads (default: teacher's)."})
    student_intermediate_size: int | None = field(default=None, metadata={"help": "Student FFN (default 4 x width)."})
    assistant_num_layers: int | None = field(
        default=None,
        metadata={
            "help": "Teacher assistant (MiniLM): when set, distil teacher -> assistant -> student, two chained runs "
            "of max_steps each; the assistant is built like the student from the assistant_* sizes."
        },
    )
    assistant_hidden_size: int | None = field(default=None, metadata={"help": "Assistant width."})
    assistant_num_heads: int | None = field(default=None, metadata={"help": "Assistant heads."})
    assistant_intermediate_size: int | None = field(default=None, metadata={"help": "Assistant FFN width."})


def parse_arguments(argv: list[str]) -> tuple[CorpusArguments, StudentArguments, GeneralDistillationArguments]:
    """``--config file.yaml|json`` values, overridden by the other command-line flags."""
    parser = RecipeArgumentParser((CorpusArguments, StudentArguments, GeneralDistillationArguments))
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    (corpus_args, student_args, training_args), _ = parse_with_config(parser, argv)
    if not student_args.teacher_model:
        raise ValueError("Give the teacher: --teacher_model <folder or Hub id> (a pre-trained encoder).")
    if not training_args.general_preset:
        raise ValueError(f"Choose the objective: --general_preset {'|'.join(GENERAL_PRESETS)}.")
    return corpus_args, student_args, training_args


def main(argv: list[str] | None = None, callbacks: list | None = None) -> dict:
    """Run the recipe with command-line ``argv`` (default ``sys.argv[1:]``); ``callbacks`` go to every trainer."""
    corpus_args, student_args, args = parse_arguments(sys.argv[1:] if argv is None else argv)
    set_seed(args.seed)
    preset = GENERAL_PRESETS[args.general_preset]
    with_head = args.distill_phases != "intermediate"
    tokenizer = AutoTokenizer.from_pretrained(student_args.tokenizer_name or student_args.teacher_model)

    with args.main_process_first(desc="packing the corpus"):
        corpus = load_text_corpus(
            corpus_args.text_files,
            corpus_args.dataset_name,
            corpus_args.dataset_config_name,
            corpus_args.dataset_split,
            corpus_args.text_columns,
            corpus_args.streaming,
            corpus_args.corpus_cache_dir,
        )
        blocks = pack_blocks(
            corpus,
            tokenizer,
            corpus_args.block_size,
            with_offsets=corpus_args.whole_word_mask,
            num_proc=corpus_args.preprocessing_num_workers,
        )
        if corpus_args.max_train_blocks is not None:
            if corpus_args.streaming:
                blocks = blocks.take(corpus_args.max_train_blocks)
            else:
                blocks = blocks.select(range(min(corpus_args.max_train_blocks, len(blocks))))
    collator = DynamicMaskingCollator(
        tokenizer,
        mlm_probability=corpus_args.mlm_probability,
        whole_word_mask=corpus_args.whole_word_mask,
        mask_replace_prob=1.0 if corpus_args.whole_word_mask else 0.8,
        random_replace_prob=0.0 if corpus_args.whole_word_mask else 0.1,
        seed=args.seed,
    )
    teacher = load_general_teacher(student_args.teacher_model, with_head, args.teacher_dtype)

    summaries: list[dict] = []

    def distill(stage_teacher: PreTrainedModel, student: PreTrainedModel, output_dir: str, name: str) -> None:
        stage_args = dataclasses.replace(args, output_dir=output_dir)
        trainer = GeneralDistillationTrainer(
            model=student,
            args=stage_args,
            train_dataset=blocks,
            data_collator=collator,
            processing_class=tokenizer,
            teacher_model=stage_teacher,
            callbacks=callbacks,
        )
        last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        start = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=last)
        trainer.save_model(output_dir)
        summaries.append(
            {
                "stage": name,
                "output_dir": output_dir,
                "resumed_from": last,
                "train_seconds": time.perf_counter() - start,
                "global_step": trainer.state.global_step,
                "train_loss": result.training_loss,
                "log_history": trainer.state.log_history,
                "student_parameters": sum(p.numel() for p in student.parameters()),
            }
        )

    def builder(num_layers: int, hidden: int | None, heads: int | None, intermediate: int | None):
        def build(stage_teacher: PreTrainedModel) -> PreTrainedModel:
            return build_general_student(
                stage_teacher,
                student_args.student_init,
                num_layers,
                hidden,
                heads,
                intermediate,
                with_head,
            )

        return build

    if student_args.student_model:
        student_build = lambda _: student_auto_class(with_head).from_pretrained(student_args.student_model)  # noqa: E731
    else:
        student_build = builder(
            student_args.student_num_layers,
            student_args.student_hidden_size,
            student_args.student_num_heads,
            student_args.student_intermediate_size,
        )
    if student_args.assistant_num_layers:
        assistant_build = builder(
            student_args.assistant_num_layers,
            student_args.assistant_hidden_size,
            student_args.assistant_num_heads,
            student_args.assistant_intermediate_size,
        )
        stages = [ChainStage("assistant", assistant_build), ChainStage("student", student_build)]
        load = student_auto_class(with_head).from_pretrained
        folders = chain_distillation(teacher, stages, distill, args.output_dir, load_model=load)
    else:
        distill(teacher, student_build(teacher), args.output_dir, "student")
        folders = [args.output_dir]

    results = {
        "general_preset": args.general_preset,
        "distill_preset": preset.distill_preset,
        "teacher": student_args.teacher_model,
        "outputs": folders,
        "stages": summaries,
        "corpus": dataclasses.asdict(corpus_args),
        "student": dataclasses.asdict(student_args),
    }
    if args.should_save:  # recorded without secrets (a token in a setting or a Hub dataset's options)
        with open(os.path.join(args.output_dir, "general_distill_results.json"), "w") as handle:
            json.dump(redact(results), handle, indent=1, default=str)
    # The saved student loads as an ordinary model.
    AutoModel.from_pretrained(folders[-1])
    return results


def cli(argv: list[str] | None = None) -> int:
    """`main` for the command line: bad input is one line on stderr and exit code 1 (HF_DISTILL_TRACEBACK=1: the
    traceback)."""
    try:
        main(argv)
    except (ValueError, OSError, NonFiniteTrainingError) as error:
        if os.environ.get("HF_DISTILL_TRACEBACK"):
            raise
        print(f"run_general_distill.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
