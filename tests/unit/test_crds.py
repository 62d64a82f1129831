"""The committed CRDs are exactly what the models generate (run ``make crds`` after a change)."""

from __future__ import annotations

from pathlib import Path

from headway.models.crd import render_all

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    generated = render_all()
    committed = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    assert sorted(committed) == sorted(generated), "run `make crds`"
    for name, text in generated.items():
        assert committed[name] == text, f"crds/{name} differs from the models: run `make crds`"


def test_crds_have_status_printer_columns_and_category() -> None:
    import yaml

    for text in render_all().values():
        crd = yaml.safe_load(text)
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert version["additionalPrinterColumns"]
        assert crd["spec"]["names"]["categories"] == ["headway"]
        schema = version["schema"]["openAPIV3Schema"]
        assert "$ref" not in text and "anyOf" not in text and "title" not in schema
