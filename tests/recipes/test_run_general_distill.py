import json
import random

import pytest
import torch
import yaml
from transformers import AutoModel, BertConfig, BertModel

from recipes.run_general_distill import main, parse_arguments
from tests.tiny import WORDS, make_tokenizer


@pytest.fixture
def setup(tmp_path):
    tokenizer = make_tokenizer()
    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, initializer_range=0.3,
    )  # fmt: skip
    BertModel(config).save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    rng = random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) for _ in range(200)))
    settings = {
        "teacher_model": str(tmp_path / "teacher"), "general_preset": "minilmv2", "text_files": [str(corpus)],
        "block_size": 16, "student_num_layers": 2, "student_hidden_size": 16, "student_num_heads": 2,
        "student_intermediate_size": 32, "output_dir": str(tmp_path / "out"), "max_steps": 4,
        "per_device_train_batch_size": 8, "report_to": "none", "use_cpu": True, "disable_tqdm": True,
        "save_strategy": "no", "seed": 0,
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    return tmp_path, path


def test_config_file_and_command_line_override(setup):
    tmp_path, config = setup
    corpus_args, student_args, args = parse_arguments(["--config", str(config), "--max_steps", "7"])
    assert args.max_steps == 7 and args.general_preset == "minilmv2" and args.distill_preset == "minilmv2"
    assert corpus_args.block_size == 16 and student_args.student_num_layers == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"teacher": "x"}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) teacher;"):
        parse_arguments(["--config", str(bad)])
    with pytest.raises(ValueError, match="--teacher_model"):
        parse_arguments(["--general_preset", "tinybert", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--general_preset"):
        parse_arguments(["--teacher_model", "x", "--output_dir", str(tmp_path)])


def test_recipe_with_a_teacher_assistant(setup):
    tmp_path, config = setup
    results = main(["--config", str(config), "--assistant_num_layers", "3", "--assistant_hidden_size", "32"])
    out = tmp_path / "out"
    assert results["outputs"] == [str(out / "assistant"), str(out / "student")]
    assert [stage["stage"] for stage in results["stages"]] == ["assistant", "student"]
    assert all(stage["global_step"] == 4 for stage in results["stages"])
    assistant = AutoModel.from_pretrained(out / "assistant")
    student = AutoModel.from_pretrained(out / "student")
    assert (assistant.config.num_hidden_layers, assistant.config.hidden_size) == (3, 32)
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (2, 16)
    assert json.loads((out / "general_distill_results.json").read_text())["general_preset"] == "minilmv2"
    # Rerun: both stages are finished, nothing is trained again.
    again = main(["--config", str(config), "--assistant_num_layers", "3", "--assistant_hidden_size", "32"])
    assert again["stages"] == []
