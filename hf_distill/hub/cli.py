"""The ``hf_distill`` command: ``hf_distill push OUTPUT_DIR REPO_ID`` pushes a finished run's student to the Hub."""

from __future__ import annotations

import argparse
import sys

from .push import DEFAULT_COMMIT_MESSAGE, HubPushError, push_student


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf_distill", description="Knowledge distillation of BERT-family models.")
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser(
        "push",
        help="Push a finished run's student (safetensors, tokenizer, card) to the Hugging Face Hub.",
        description="Push the student saved in OUTPUT_DIR to the Hub repo REPO_ID, with a card rendered from "
        "OUTPUT_DIR/results.json. Only the student's files are sent (weights, config, tokenizer, card, and the "
        "modelling code its config's auto_map names): no teacher, checkpoints, training state or other files.",
    )
    push.add_argument("output_dir", metavar="OUTPUT_DIR", help="The run's output directory (holds the student).")
    push.add_argument("repo_id", metavar="REPO_ID", help="The Hub repo, 'namespace/name' or 'name'.")
    push.add_argument(
        "--private",
        action="store_true",
        default=None,
        help="Create the repo as private; an existing public repo is refused (nothing is pushed).",
    )
    push.add_argument("--token", default=None, help="A Hub token with write access (default: HF_TOKEN / login).")
    push.add_argument("--revision", default=None, help="The branch to push to (default: main).")
    push.add_argument("--commit_message", default=DEFAULT_COMMIT_MESSAGE, help="The commit message.")
    push.add_argument(
        "--student_base_model",
        default=None,
        help="Hub id of the checkpoint the student started from (the card's base_model), when the run loaded it "
        "from a local folder.",
    )
    push.add_argument(
        "--teacher_hub_id", default=None, help="Hub id of the teacher (the card's teacher), when loaded from a folder."
    )
    push.add_argument(
        "--model_card_template",
        default=None,
        metavar="PATH",
        help="A Jinja2 model card template to render instead of the packaged one (copy model_cards/"
        "distilled_student.md of the repository and edit it).",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commit = push_student(
            args.output_dir,
            args.repo_id,
            token=args.token,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            student_base_model=args.student_base_model,
            teacher_hub_id=args.teacher_hub_id,
            model_card_template=args.model_card_template,
        )
    except (HubPushError, ValueError) as error:
        print(f"hf_distill push: {error}", file=sys.stderr)
        return 1
    print(f"Pushed {args.output_dir} to {commit.repo_url.repo_id}: {commit.commit_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
