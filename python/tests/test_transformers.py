"""from_pretrained of a tiny BERT-like model that the test builds and saves with transformers,
compressed as a folder: the same model as transformers' own from_pretrained of the original."""

import os

import pytest
from conftest import need

import znn_gpu

transformers = need("transformers")
torch = need("torch")

from transformers import (  # noqa: E402
    AutoModel,
    AutoModelForMaskedLM,
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
)

import znn_gpu.transformers as zt  # noqa: E402


def _bert(tmp, shard):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=64)
    m = BertForMaskedLM(cfg).eval()
    src = str(tmp / ("bert-sharded" if shard else "bert"))
    m.save_pretrained(src, max_shard_size="200KB" if shard else "50GB")
    out = src + ".znn"
    znn_gpu.compress_file(src, out)  # a mirrored tree: NAME.znn weights + copies of the rest
    return src, out


@pytest.fixture(scope="module", params=[False, True], ids=["single", "sharded"])
def bert(request, tmp_path_factory):
    return _bert(tmp_path_factory.mktemp("tf"), request.param)


def _inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 1000, (2, 16), generator=g), torch.ones(2, 16, dtype=torch.long)


def test_folder_is_compressed(bert):
    src, out = bert
    names = sorted(os.listdir(out))
    assert "config.json" in names
    assert not any(n.endswith(".safetensors") for n in names)
    assert any(n.endswith(".safetensors.znn") for n in names)
    if os.path.exists(os.path.join(src, "model.safetensors.index.json")):
        assert open(os.path.join(src, "model.safetensors.index.json"), "rb").read() == open(
            os.path.join(out, "model.safetensors.index.json"), "rb").read()


def test_same_model(bert):
    src, out = bert
    ref = BertForMaskedLM.from_pretrained(src)
    got = zt.from_pretrained(BertForMaskedLM, out)
    assert type(got) is type(ref)
    assert not got.training
    x, mask = _inputs()
    with torch.no_grad():
        assert torch.equal(got(input_ids=x, attention_mask=mask).logits, ref(input_ids=x, attention_mask=mask).logits)
    a, b = ref.state_dict(), got.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    ca, cb = ref.config.to_dict(), got.config.to_dict()
    ca.pop("_name_or_path", None)
    cb.pop("_name_or_path", None)
    assert ca == cb
    assert got.config.name_or_path == out


def test_auto_classes_and_kwargs(bert):
    src, out = bert
    got = zt.from_pretrained(AutoModelForMaskedLM, out)
    assert type(got) is BertForMaskedLM
    base = zt.from_pretrained(AutoModel, out)
    assert type(base) is type(AutoModel.from_pretrained(src))
    c = zt.from_pretrained(BertForMaskedLM, out, output_attentions=True, dtype=torch.bfloat16)
    r = BertForMaskedLM.from_pretrained(src, output_attentions=True, dtype=torch.bfloat16)
    assert c.config.output_attentions and c.dtype == torch.bfloat16
    x, mask = _inputs()
    with torch.no_grad():
        assert torch.equal(c(input_ids=x).logits, r(input_ids=x).logits)


def test_parameters_are_views_of_the_decoded_shards(bert):
    _, out = bert
    sd = zt.load_state_dict(out)
    bufs = {t.untyped_storage().data_ptr() for t in sd.values()}
    m = BertForMaskedLM.from_pretrained(None, config=out, state_dict=sd)
    views = sum(p.untyped_storage().data_ptr() in bufs for p in m.parameters())
    assert views >= len(list(m.parameters())) - 2  # no copy but for re-tied / re-made params


def test_patch_is_opt_in_and_scoped(bert):
    src, out = bert
    with pytest.raises((OSError, FileNotFoundError, Exception)):
        BertForMaskedLM.from_pretrained(out)  # transformers alone cannot read .znn
    ref = BertForMaskedLM.from_pretrained(src)
    before = transformers.modeling_utils.safe_open
    with zt.patched():
        got = BertForMaskedLM.from_pretrained(out)
    assert transformers.modeling_utils.safe_open is before
    x, mask = _inputs()
    with torch.no_grad():
        assert torch.equal(got(input_ids=x).logits, ref(input_ids=x).logits)


def test_generative_model_generation_config(tmp_path):
    torch.manual_seed(0)
    m = GPT2LMHeadModel(GPT2Config(vocab_size=500, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                   bos_token_id=0, eos_token_id=1)).eval()
    m.generation_config.max_new_tokens = 7
    m.generation_config.do_sample = False
    src = str(tmp_path / "gpt")
    m.save_pretrained(src)
    znn_gpu.compress_file(src, src + ".znn")
    ref = GPT2LMHeadModel.from_pretrained(src)
    got = zt.from_pretrained(GPT2LMHeadModel, src + ".znn")
    assert got.generation_config.to_dict() == ref.generation_config.to_dict()
    ids = torch.tensor([[2, 3, 4]])
    assert torch.equal(got.generate(ids), ref.generate(ids))
    assert got.lm_head.weight.data_ptr() == got.transformer.wte.weight.data_ptr()  # still tied


def test_hf_cache_snapshot(bert, tmp_path):
    """models--org--name with blobs/, refs/main and snapshots/REV/NAME.znn -> ../../blobs/B.znn."""
    src, out = bert
    repo = tmp_path / "models--org--tiny-bert"
    rev = "0123456789abcdef0123456789abcdef01234567"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True)
    for i, name in enumerate(sorted(os.listdir(out))):
        blob = repo / "blobs" / f"blob{i}{'.znn' if name.endswith('.znn') else ''}"
        blob.write_bytes(open(os.path.join(out, name), "rb").read())
        os.symlink(os.path.join("..", "..", "blobs", blob.name), snap / name)
    ref = BertForMaskedLM.from_pretrained(src)
    for where in (repo, snap):
        got = zt.from_pretrained(BertForMaskedLM, str(where))
        x, _ = _inputs()
        with torch.no_grad():
            assert torch.equal(got(input_ids=x).logits, ref(input_ids=x).logits)
