"""Genotype text and JSON forms: byte-exact formats, lossless round trips, errors that name the field."""

import json

import pytest

from nas_core.genotype import (
    DARTS8_OPS,
    DARTS_OPS,
    DARTS_V2,
    NB201_OPS,
    Genotype,
    GenotypeError,
    genotype_edges,
    genotype_from_edges,
    genotype_from_json,
    genotype_to_json,
    same_architecture,
    validate,
)
from nas_core.spaces.darts_definition import darts_repr, parse_darts_repr
from nas_core.spaces.nb201_definition import nb201_arch_str, parse_nb201_arch_str

ARCH_STR = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
NB201_EXAMPLE = Genotype(
    space="nb201",
    ops=NB201_OPS,
    edges=(
        ("nor_conv_3x3", 0),
        ("skip_connect", 0),
        ("nor_conv_3x3", 1),
        ("skip_connect", 0),
        ("none", 1),
        ("nor_conv_3x3", 2),
    ),
)
# DARTS's published text for DARTS_V2, written out by hand (not produced by our code).
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def test_nb201_arch_str_is_byte_exact() -> None:
    assert nb201_arch_str(NB201_EXAMPLE) == ARCH_STR
    assert parse_nb201_arch_str(ARCH_STR) == NB201_EXAMPLE


def test_darts_repr_matches_the_published_text() -> None:
    assert darts_repr(DARTS_V2) == DARTS_V2_TEXT
    assert parse_darts_repr(DARTS_V2_TEXT, ops=DARTS8_OPS) == DARTS_V2


def test_darts_repr_accepts_range_concat_and_never_evaluates() -> None:
    text = DARTS_V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert parse_darts_repr(text, ops=DARTS8_OPS) == DARTS_V2
    with pytest.raises(GenotypeError, match="not a literal"):
        parse_darts_repr(DARTS_V2_TEXT.replace("[2, 3, 4, 5]", "__import__('os').getcwd()", 1))


@pytest.mark.parametrize("g", [NB201_EXAMPLE, DARTS_V2], ids=["nb201", "darts"])
def test_json_round_trip_is_lossless(g: Genotype) -> None:
    d = genotype_to_json(g, epoch=7, search_id="abc")
    back = genotype_from_json(json.loads(json.dumps(d)))
    assert back == g
    assert (d["epoch"], d["search_id"]) == (7, "abc")
    assert genotype_to_json(back, epoch=7, search_id="abc") == d


def test_json_layout() -> None:
    d = genotype_to_json(NB201_EXAMPLE)
    assert d["arch_str"] == ARCH_STR and "darts_repr" not in d
    assert d["genotype"] == {"edges": [[op, s] for op, s in NB201_EXAMPLE.edges]}
    d = genotype_to_json(DARTS_V2)
    assert d["genotype"]["normal"][7] == ["dil_conv_3x3", 2] and d["genotype"]["reduce_concat"] == [
        2,
        3,
        4,
        5,
    ]
    assert d["darts_repr"] == DARTS_V2_TEXT and d["ops"] == list(DARTS8_OPS)


def test_json_from_text_alone_and_disagreement() -> None:
    assert genotype_from_json({"space": "nb201", "arch_str": ARCH_STR}) == NB201_EXAMPLE
    d = genotype_to_json(NB201_EXAMPLE)
    d["arch_str"] = ARCH_STR.replace("none~1", "skip_connect~1")
    with pytest.raises(GenotypeError, match="arch_str: disagrees"):
        genotype_from_json(d)


def _darts_json(**cell_changes) -> dict:
    d = genotype_to_json(DARTS_V2)
    del d["darts_repr"]
    d["genotype"].update(cell_changes)
    return d


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"space": "nas101", "genotype": {}}, r"space: 'nas101' .*allowed: \['nb201', 'darts'\]"),
        (
            {"space": "nb201", "arch_str": ARCH_STR.replace("none~1", "conv_7x7~1")},
            r"genotype.edges\[4\]: unknown op 'conv_7x7'; allowed: \['none', 'skip_connect'",
        ),
        (
            {"space": "nb201", "genotype": {"edges": [["none", 0]] * 5}},
            r"genotype.edges: 5 edges, nb201 needs 6",
        ),
        (
            {"space": "nb201", "genotype": {"edges": [[op, 0] for op, _ in NB201_EXAMPLE.edges]}},
            r"genotype.edges\[2\]: input 0 for node 2; edge 2 must read node 1",
        ),
        (_darts_json(normal=DARTS_V2.normal[:6]), r"genotype.normal: 6 edges, darts needs 8"),
        (
            _darts_json(reduce=[["max_pool_3x3", 2], *DARTS_V2.reduce[1:]]),
            r"genotype.reduce\[0\]: input 2 for node 2; allowed: 0..1",
        ),
        (
            _darts_json(normal=[*DARTS_V2.normal[:7], ["none", 2]]),
            r"genotype.normal\[7\]: unknown op 'none'; allowed: \['max_pool_3x3'",
        ),
        (
            _darts_json(normal=[*DARTS_V2.normal[:7], ["skip_connect", 0]]),
            r"genotype.normal\[7\]: node 5 reads input 0 twice",
        ),
        (_darts_json(normal_concat=[2, 3]), r"genotype.normal_concat: \[2, 3\]; allowed: \[2, 3, 4, 5\]"),
        (_darts_json(cells=[]), r"genotype: unknown fields \['cells'\]"),
        ({"space": "darts", "darts_repr": "Genotype(normal=[], reduce=[])"}, r"darts_repr: fields"),
        ({"space": "nb201", "arch_str": "|none~0|+|none~0|"}, r"arch_str: .* 2 nodes"),
        ({"space": "darts"}, r"genotype: missing; give 'genotype' or 'darts_repr'"),
    ],
)
def test_invalid_genotypes_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        genotype_from_json(data)


def test_wrong_space_is_named() -> None:
    with pytest.raises(GenotypeError, match="space: genotype is for 'darts', expected 'nb201'"):
        validate(DARTS_V2, space="nb201")


def test_edges_helpers_round_trip_and_order_insensitive_equality() -> None:
    edges = genotype_edges(DARTS_V2)
    assert edges["normal"][5] == (4, 0, "skip_connect") and edges["reduce"][7] == (5, 1, "max_pool_3x3")
    assert genotype_from_edges("darts", DARTS8_OPS, edges) == DARTS_V2
    assert genotype_edges(NB201_EXAMPLE)["cell"][5] == (3, 2, "nor_conv_3x3")
    assert genotype_from_edges("nb201", NB201_OPS, genotype_edges(NB201_EXAMPLE)) == NB201_EXAMPLE
    swapped = Genotype(
        "darts",
        DARTS_OPS,
        normal=(DARTS_V2.normal[1], DARTS_V2.normal[0], *DARTS_V2.normal[2:]),
        normal_concat=DARTS_V2.normal_concat,
        reduce=DARTS_V2.reduce,
        reduce_concat=DARTS_V2.reduce_concat,
    )
    assert swapped != DARTS_V2 and same_architecture(swapped, DARTS_V2)
    other = Genotype(
        "darts", DARTS_OPS, DARTS_V2.edges, DARTS_V2.reduce, (2, 3, 4, 5), DARTS_V2.normal, (2, 3, 4, 5)
    )
    assert not same_architecture(other, DARTS_V2)
