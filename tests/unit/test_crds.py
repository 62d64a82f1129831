"""The committed CRDs are exactly what the models generate (run ``make crds`` after a change)."""

from __future__ import annotations

from pathlib import Path

from headway.models.crd import render_all

ROOT = Path(__file__).resolve().parents[2]
# The CRDs for `kubectl apply`, and the chart's copy (its templates add keep and labels).
COPIES = (ROOT / "crds", ROOT / "charts" / "headway" / "files" / "crds")


def test_committed_crds_match_the_models() -> None:
    generated = render_all()
    for directory in COPIES:
        committed = {p.name: p.read_text() for p in directory.glob("*.yaml")}
        assert sorted(committed) == sorted(generated), f"{directory}: run `make crds`"
        for name, text in generated.items():
            assert committed[name] == text, f"{directory}/{name} differs: run `make crds`"


def test_crds_have_status_printer_columns_and_category() -> None:
    import yaml

    for text in render_all().values():
        crd = yaml.safe_load(text)
        version = crd["spec"]["versions"][0]
        has_status = "status" in version["schema"]["openAPIV3Schema"]["properties"]
        assert version.get("subresources") == ({"status": {}} if has_status else None)
        assert has_status or crd["spec"]["names"]["kind"] == "OutputPage"  # written whole
        assert version["additionalPrinterColumns"]
        assert crd["spec"]["names"]["categories"] == ["headway"]
        schema = version["schema"]["openAPIV3Schema"]
        assert "$ref" not in text and "anyOf" not in text and "title" not in schema
