"""Tiny random-weight models and a tokenizer trained on the spot, saved to a directory.

Hidden size 32, two layers: a forward pass costs microseconds, so the model tests
check the runtime's logic (batching, padding, truncation, templates) against direct
computations on the same weights, not model quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = [
    "What is two plus two? The answer is 4.", "Let me think step by step.", "First, add the numbers.",
    "<answer>42</answer> <think>hmm</think>", "The capital of France is Paris.", "+ - ки \n\n",
    "user assistant system", "Solve x + 3 = 5 so x = 2.", "def f(x): return x * 2",
]


def tokenizer(chat_template: bool = True, pad: bool = True) -> Any:
    """A byte-level BPE tokenizer (any text encodes) with BOS/EOS, optional pad and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(CORPUS * 4, trainer)
    from tokenizers.processors import TemplateProcessing

    core.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", core.token_to_id("<s>"))])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>" if pad else None)
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def _config(tok: Any, **extra: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id, **extra)


def save(path: Path, kind: str, seed: int = 0, chat_template: bool = True, pad: bool = True,
         **config: Any) -> str:
    """Build a random ``kind`` model ("seq_cls", "causal_lm", "token_cls") and save it with its tokenizer."""
    import torch
    from transformers import LlamaForCausalLM, LlamaForSequenceClassification, LlamaForTokenClassification

    torch.manual_seed(seed)
    tok = tokenizer(chat_template, pad)
    cls = {"seq_cls": LlamaForSequenceClassification, "causal_lm": LlamaForCausalLM,
           "token_cls": LlamaForTokenClassification}[kind]
    model = cls(_config(tok, **config))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def save_encoder(path: Path, seed: int = 0) -> str:
    """A tiny random BERT (bidirectional: keeps its attention mask) with the same tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    tok = tokenizer(chat_template=False)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=1024, pad_token_id=tok.pad_token_id)
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def save_clip(path: Path, seed: int = 0) -> str:
    """A tiny random CLIP (32x32 images, 8x8 patches) with the same tokenizer and an image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    tok = tokenizer(chat_template=False)
    text = {"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 128, "pad_token_id": tok.pad_token_id,
            "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(path)
    tok.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return str(path)


def save_dino(path: Path, seed: int = 0, registers: int = 0) -> str:
    """A tiny random DINOv2 (``AutoModel``, no text tower, no tokenizer) with its image processor.

    With ``registers`` it is a DINOv2-with-registers model (that many register tokens
    after the CLS token).
    """
    import torch
    from transformers import (
        BitImageProcessor,
        Dinov2Config,
        Dinov2Model,
        Dinov2WithRegistersConfig,
        Dinov2WithRegistersModel,
    )

    torch.manual_seed(seed)
    shape: dict[str, Any] = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "mlp_ratio": 2,
             "image_size": 32, "patch_size": 8}
    if registers:
        Dinov2WithRegistersModel(Dinov2WithRegistersConfig(num_register_tokens=registers, **shape)
                                 ).save_pretrained(path)
    else:
        Dinov2Model(Dinov2Config(**shape)).save_pretrained(path)
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return str(path)
