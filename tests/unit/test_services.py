"""Where to go: services.csv, the rule -> service link, and a clinic's own names and phones.

Issue 8 ("Where to go"): every rule names a service of its level, the result carries it, and a
clinic renames services or adds phone numbers in one small file without touching the rules; a
bad file is a clear error naming the key.
"""

from __future__ import annotations

import shutil
from html import escape
from pathlib import Path

import pytest

from aid import Urgency, load_knowledge, triage
from aid.knowledge import DEFAULT_DIR, KnowledgeError
from aid.report import card_html, to_html, to_markdown
from aid.services import CLINIC_CONFIG_ENV, ClinicConfigError

KB = load_knowledge()
EXAMPLE = Path(__file__).resolve().parents[2] / "clinic.example.toml"


def test_every_level_has_a_service_and_every_rule_names_one_of_its_level():
    levels = {s.level for s in KB.services.values()}
    assert levels == {u.value for u in Urgency}
    for rule in KB.red_flags:
        assert KB.services[rule.service].level == rule.urgency.value, rule.id


@pytest.mark.parametrize("rule", KB.red_flags, ids=lambda r: r.id)
def test_a_result_at_a_rules_level_goes_to_a_service_of_that_level(rule):
    answers = {}
    for atom in rule.when.atoms:
        if atom.holds_when_unanswered:
            continue
        q = KB.questions[atom.question]
        if atom.op in ("=", "in"):
            value = atom.values[0]
            answers[q.id] = (
                sorted(set(answers.get(q.id, [])) | {value}) if q.kind == "multi" else value
            )
        else:
            n = atom.number
            answers[q.id] = {">=": n, "<=": n, ">": n + 1, "<": n - 1}[atom.op]
    result = triage(answers)
    assert result.service.level == result.urgency.value
    if result.urgency == rule.urgency:
        named = {KB.rule(r.rule_id).service for r in result.reasons if r.urgency == result.urgency}
        assert result.service.id in named


def test_the_service_shows_in_the_markdown_the_card_and_the_json():
    result = triage({"saddle_numbness": "yes", "age": 40})
    assert result.service.name in to_markdown(result)
    for page, anchor in ((card_html(result), 'id="card-where"'), (to_html(result), 'id="where"')):
        where = page[page.index(anchor) :]
        assert "Where to go" in where and escape(result.service.name) in where
    assert result.to_dict()["service"]["id"] == "emergency_department"


def _kb_with_clinic(tmp_path, monkeypatch, text: str):
    d = tmp_path / "kb"
    shutil.copytree(DEFAULT_DIR, d)
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(text, encoding="utf-8")
    monkeypatch.setenv(CLINIC_CONFIG_ENV, str(clinic))
    return load_knowledge(d)


def test_a_clinic_renames_a_service_and_adds_its_phone(tmp_path, monkeypatch):
    kb = _kb_with_clinic(tmp_path, monkeypatch, EXAMPLE.read_text(encoding="utf-8"))
    gp = kb.services["same_day_gp"]
    assert gp.name == "Riverside Surgery, same-day appointments" and gp.phone == "01632 960000"
    assert kb.services["physiotherapist"].phone == "01632 960111"
    assert kb.services["physiotherapist"].name == KB.services["physiotherapist"].name
    result = triage({"fever": "yes", "age": 40}, kb)
    assert result.service.id == "same_day_gp"
    assert "01632 960000" in to_markdown(result, kb)
    assert kb.version != KB.version, "results name the clinic wording they were given"
    assert [r.id for r in kb.red_flags] == [r.id for r in KB.red_flags], "rules untouched"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[services.same_day_gpp]\nname = 'x'\n",
            "[services.same_day_gpp] is not a service; service ids: ",
        ),
        ("[services.gp]\nfax = '1'\n", "unknown key 'fax'; allowed keys: name, phone, instruction"),
        ("[services.gp]\nphone = 123\n", "phone must be text in quotes"),
        ("[services.gp]\nname = '  '\n", "name must not be empty"),
        ("[clinic]\nname = 'x'\n", "unknown top-level key 'clinic'"),
        ("[services.gp\n", "not a valid TOML file"),
    ],
)
def test_a_bad_clinic_file_is_an_error_naming_the_key(tmp_path, monkeypatch, text, message):
    with pytest.raises(ClinicConfigError) as info:
        _kb_with_clinic(tmp_path, monkeypatch, text)
    assert message in str(info.value)
    assert "clinic.toml" in str(info.value)


def test_off_ignores_any_clinic_file(monkeypatch):
    monkeypatch.setenv(CLINIC_CONFIG_ENV, "off")
    assert load_knowledge().services["gp"].phone == ""


def _load_with_red_flags_edited(tmp_path, old: str, new: str):
    d = tmp_path / "kb"
    shutil.copytree(DEFAULT_DIR, d)
    path = d / "red_flags.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return load_knowledge(d)


def test_a_rule_naming_a_service_of_another_level_fails_at_load(tmp_path):
    with pytest.raises(KnowledgeError) as info:
        _load_with_red_flags_edited(tmp_path, ",emergency,emergency_department,", ",emergency,gp,")
    assert "red_flags.csv" in str(info.value) and "'service'" in str(info.value)
    assert "service 'gp' is for soon, not emergency" in str(info.value)


def test_an_unknown_service_fails_at_load(tmp_path):
    with pytest.raises(KnowledgeError, match="'the_moon'"):
        _load_with_red_flags_edited(tmp_path, ",emergency_department,", ",the_moon,")
