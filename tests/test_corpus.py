"""The calibration corpus: what it covers and how it is chosen."""
from __future__ import annotations

import pytest

from latmodel.measure.corpus import (CORPORA, RANDOM2_SEEDS, RANDOM3_SEEDS, RANDOM4_SEEDS, RANDOM5_SEEDS,
                                     RANDOM_SEEDS, TRANSFORMER_CONFIGS, ProfileConfig, default_corpus, get_corpus, small_corpus)
from latmodel.errors import NetcutError
from latmodel.graph.zoo import MODELS


def test_default_corpus_covers_the_whole_zoo_at_two_or_more_resolutions():
    corpus = default_corpus()
    assert len(corpus) == len(set(corpus)) == (154 + len(TRANSFORMER_CONFIGS) + len(RANDOM3_SEEDS)
                                           + len(RANDOM4_SEEDS) + len(RANDOM5_SEEDS)) == 211
    small = {name for name, _ in TRANSFORMER_CONFIGS}
    for name, spec in MODELS.items():
        if name in small:  # transformer-style networks: small resolutions only
            assert {c.resolution_px for c in corpus if c.model == name} <= {64, 96, 128, 224}, name
            continue
        resolutions = {c.resolution_px for c in corpus if c.model == name}
        assert {spec.resolution_px, 160} <= resolutions, name
    assert {c.width for c in corpus if c.model == "mobilenet_v2"} == {0.5, 0.75, 1.0, 1.4}
    for base in ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
        assert ProfileConfig(base, 128) in corpus  # trimmer's default search resolution
    for c in corpus:
        if c.model in MODELS:
            assert c.width in MODELS[c.model].widths


def test_default_corpus_sampled_networks_stay_small():
    sampled = [c for c in default_corpus() if c.model.startswith("random:")]
    assert len(sampled) == 64
    assert [c.model for c in sampled] == [f"random:{s}" for s in RANDOM_SEEDS]
    assert {c.resolution_px for c in sampled} == {96, 128, 160}
    sampled2 = [c for c in default_corpus() if c.model.startswith("random2:")]
    assert [c.model for c in sampled2] == [f"random2:{s}" for s in RANDOM2_SEEDS]
    assert not set(RANDOM_SEEDS) & set(RANDOM2_SEEDS)  # one seed, one network in the corpus
    assert {c.resolution_px for c in sampled2} == {96, 128, 160}


def test_small_corpus_is_a_spread_subset():
    small = small_corpus()
    assert 10 <= len(small) <= 15
    assert len({c.model for c in small}) == len(small) - 1  # mobilenet_v2 twice (two widths)
    families = {MODELS[c.model].family for c in small if c.model in MODELS}
    assert len(families) >= 9


def test_get_corpus_and_registry():
    assert set(CORPORA) == {"default", "small", "repeat", "wide", "heavy", "units", "zoo"}
    assert get_corpus() == default_corpus()
    assert get_corpus("small") == small_corpus()
    with pytest.raises(NetcutError, match="unknown corpus 'tiny'; choose one of: default, small, repeat"):
        get_corpus("tiny")


def test_profile_config_round_trip():
    c = ProfileConfig("mobilenet_v2", 160, 0.75)
    assert ProfileConfig.from_dict(c.to_dict()) == c
    assert ProfileConfig.from_dict({"model": "resnet18", "resolution_px": "224"}) == ProfileConfig("resnet18", 224, 1.0)


def test_transformer_style_corpus_entries():
    corpus = default_corpus()
    sampled3 = [c for c in corpus if c.model.startswith("random3:")]
    assert [c.model for c in sampled3] == [f"random3:{s}" for s in RANDOM3_SEEDS]
    sampled4 = [c for c in corpus if c.model.startswith("random4:")]
    assert [(c.model, c.resolution_px) for c in sampled4][:4] == [
        ("random4:109", 64), ("random4:110", 96), ("random4:111", 128), ("random4:112", 64)]
    assert len(sampled4) == len(RANDOM4_SEEDS) == 16
    sampled5 = [c for c in corpus if c.model.startswith("random5:")]
    assert [(c.model, c.resolution_px) for c in sampled5][:4] == [
        ("random5:125", 96), ("random5:126", 128), ("random5:127", 160), ("random5:128", 96)]
    assert corpus[-len(sampled5):] == sampled5 and len(sampled5) == len(RANDOM5_SEEDS) == 16  # joined last
    seeds = [set(RANDOM_SEEDS), set(RANDOM2_SEEDS), set(RANDOM3_SEEDS), set(RANDOM4_SEEDS), set(RANDOM5_SEEDS)]
    assert sum(len(s) for s in seeds) == len(set().union(*seeds))  # no seed in two samplers
    assert {MODELS[n].family for n, _ in TRANSFORMER_CONFIGS} == {"convnext", "swin", "maxvit", "vit"}


def test_repeat_corpus_covers_every_family_twice():
    from latmodel.measure.corpus import repeat_corpus
    from latmodel.graph.zoo import family_of

    rep = repeat_corpus()
    assert len(rep) == 39 and set(rep) <= set(default_corpus())
    fams = {family_of(c.model) for c in default_corpus() if ":" not in c.model}
    assert fams <= {family_of(c.model) for c in rep}
    assert {c.model.split(":")[0] for c in rep if ":" in c.model} == {"random", "random2", "random3", "random4",
                                                                     "random5"}
    # random4, then random5, joined later and are drawn last, in that order: the configurations earlier
    # second passes measured stay first (the 35, then random4:119 and random4:123)
    assert [(c.model, c.resolution_px) for c in rep[-4:]] == [
        ("random4:119", 96), ("random4:123", 128), ("random5:135", 128), ("random5:139", 160)]
    assert not any(c.model.startswith(("random4:", "random5:")) for c in rep[:-4])


def test_wide_corpus_is_sampler_6_at_the_chains_resolutions():
    from latmodel.graph.random_wide import random_wide_config
    from latmodel.measure.corpus import RANDOM6_SEEDS, wide_corpus

    wide = wide_corpus()
    assert [(c.model, c.resolution_px) for c in wide[:4]] == [
        ("random6:141", 96), ("random6:142", 128), ("random6:143", 160), ("random6:144", 96)]
    assert len(wide) == len(RANDOM6_SEEDS) == 24 and get_corpus("wide") == wide
    assert not set(RANDOM6_SEEDS) & {int(c.model.split(":")[1]) for c in default_corpus() if ":" in c.model}
    kinds = [random_wide_config(s)["kind"] for s in RANDOM6_SEEDS]
    # half of each kind, and each kind at every resolution
    assert kinds.count("vit") == kinds.count("grouped") == 12
    for kind in ("vit", "grouped"):
        assert {c.resolution_px for c, k in zip(wide, kinds) if k == kind} == {96, 128, 160}


def test_units_corpus_is_sampler_8_with_every_kind_at_every_resolution():
    from latmodel.graph.random_units import random_unit_config
    from latmodel.measure.corpus import LARGE_RANDOM2_SEEDS, RANDOM6_SEEDS, RANDOM7_SEEDS, RANDOM8_SEEDS, units_corpus

    units = units_corpus()
    assert get_corpus("units") == units and len(units) == len(RANDOM8_SEEDS) == 24
    assert [(c.model, c.resolution_px) for c in units[:4]] == [
        ("random8:189", 128), ("random8:190", 160), ("random8:191", 192), ("random8:192", 224)]
    pairs = {(random_unit_config(int(c.model.split(":")[1]))["kind"], c.resolution_px) for c in units}
    assert len(pairs) == 12  # three kinds x four resolutions, each twice
    used = ({int(c.model.split(":")[1]) for c in default_corpus() if ":" in c.model} | set(RANDOM6_SEEDS)
            | set(RANDOM7_SEEDS) | set(LARGE_RANDOM2_SEEDS))
    assert not set(RANDOM8_SEEDS) & used


def test_zoo_corpus_is_the_default_corpus_s_registered_networks():
    zoo = get_corpus("zoo")
    assert len(zoo) == 71 and not any(":" in c.model for c in zoo)
    assert set(zoo) == {c for c in default_corpus() if ":" not in c.model}


def test_heavy_corpus_is_sampler_7_and_chains_at_large_resolutions():
    from latmodel.measure.corpus import LARGE_RANDOM2_SEEDS, RANDOM6_SEEDS, RANDOM7_SEEDS, heavy_corpus

    heavy = heavy_corpus()
    assert get_corpus("heavy") == heavy and len(heavy) == len(RANDOM7_SEEDS) + len(LARGE_RANDOM2_SEEDS) == 24
    assert [(c.model, c.resolution_px) for c in heavy[:2] + heavy[12:15]] == [
        ("random7:165", 96), ("random7:166", 128), ("random2:177", 224), ("random2:178", 256), ("random2:179", 288)]
    used = {int(c.model.split(":")[1]) for c in default_corpus() if ":" in c.model} | set(RANDOM6_SEEDS)
    assert not (set(RANDOM7_SEEDS) | set(LARGE_RANDOM2_SEEDS)) & used  # seeds no other corpus measures
