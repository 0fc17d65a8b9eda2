"""`python -m aid fhir ...`, `triage --fhir`, `--output fhir` and `log export --fhir`, run as real
subprocesses on real files (a real SQLite log)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.questionnaire import Questionnaire

from aid import Answers, load_knowledge, triage
from aid import fhir as aid_fhir
from aid.store import EncounterLog

EMERGENCY = {"saddle_numbness": "yes", "age": 45, "location": ["lower_back"]}
BENIGN = {
    "location": ["lower_back"],
    "injury": "lifting",
    "duration_days": 1,
    "severity": 5,
    "age": 30,
}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aid", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _model(data: dict, model):
    data = dict(data)
    data.pop("resourceType")
    return model.model_validate(data)


def test_fhir_questionnaire_and_codesystem_are_written_and_valid(tmp_path):
    out = tmp_path / "q.json"
    done = run("fhir", "questionnaire", str(out))
    assert done.returncode == 0, done.stderr
    q = _model(json.loads(out.read_text()), Questionnaire)
    assert q.version == load_knowledge().version
    done = run("fhir", "codesystem")
    assert done.returncode == 0, done.stderr
    cs = _model(json.loads(done.stdout), CodeSystem)
    assert cs.url == aid_fhir.CODESYSTEM_URL


@pytest.mark.parametrize("answers", [EMERGENCY, BENIGN, {}], ids=["emergency", "benign", "none"])
def test_triage_fhir_gives_the_same_result_as_plain_answers(tmp_path, answers):
    path = tmp_path / "qr.json"
    path.write_text(aid_fhir.dumps(aid_fhir.response(answers)))
    done = run("triage", str(path), "--fhir", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(triage(answers).to_dict()))


def test_output_fhir_writes_a_bundle_with_the_urgency(tmp_path):
    done = run("triage", "-", "--output", "fhir", stdin=json.dumps(EMERGENCY))
    assert done.returncode == 0, done.stderr
    bundle = json.loads(done.stdout)
    _model(bundle, Bundle)
    qr, ra = (e["resource"] for e in bundle["entry"])
    assert aid_fhir.answers_from(qr) == Answers(EMERGENCY)
    assert ra["prediction"][0]["outcome"]["coding"][0]["code"] == "emergency"
    # From a QuestionnaireResponse, the Bundle carries that same response.
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(qr))
    done = run("triage", str(path), "--fhir", "--output", "fhir")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entry"][0]["resource"] == qr


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"resourceType": "Patient"}, "resourceType: expected QuestionnaireResponse"),
        (
            {"resourceType": "QuestionnaireResponse", "status": "completed"},
            "questionnaire: the response does not say which form it answers",
        ),
        ([1, 2], "one FHIR QuestionnaireResponse"),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "questionnaire": "QUESTIONNAIRE",
                "item": [{"linkId": "fever", "answer": [{"valueString": "yes"}]}],
            },
            "fever: expected valueCoding, got valueString",
        ),
    ],
)
def test_a_bad_questionnaire_response_exits_2_naming_the_item(tmp_path, document, message):
    text = json.dumps(document).replace("QUESTIONNAIRE", aid_fhir.canonical())
    path = tmp_path / "qr.json"
    path.write_text(text)
    done = run("triage", str(path), "--fhir")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_plain_answers_given_as_fhir_exit_2(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(EMERGENCY))
    done = run("triage", str(path), "--fhir")
    assert done.returncode == 2 and "expected QuestionnaireResponse" in done.stderr


def test_log_export_fhir_writes_every_encounter_as_a_response_and_a_risk_assessment(tmp_path):
    db = tmp_path / "log.sqlite3"
    log = EncounterLog(db)
    log.append(EMERGENCY, triage(EMERGENCY), subject="P-0001")
    log.append(BENIGN, triage(BENIGN))
    log.append({}, triage({}))
    out = tmp_path / "log.json"
    done = run("log", "export", str(out), "--fhir", "--db", str(db))
    assert done.returncode == 0, done.stderr
    bundle = json.loads(out.read_text())
    _model(bundle, Bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["QuestionnaireResponse", "RiskAssessment"] * 3
    risks = [e["resource"] for e in bundle["entry"][1::2]]
    assert [r["prediction"][0]["outcome"]["coding"][0]["code"] for r in risks] == [
        "emergency",
        "selfcare",
        "incomplete",
    ]
    assert risks[0]["subject"]["identifier"]["value"] == "P-0001"
    responses = [e["resource"] for e in bundle["entry"][0::2]]
    assert aid_fhir.answers_from(responses[0]) == Answers(EMERGENCY)
    for qr, ra in zip(bundle["entry"][0::2], risks, strict=True):
        assert ra["basis"][0]["reference"] == qr["fullUrl"]


def test_log_export_fhir_of_a_missing_log_exits_2(tmp_path):
    done = run("log", "export", "-", "--fhir", "--db", str(tmp_path / "none.sqlite3"))
    assert done.returncode == 2 and "no encounter log here" in done.stderr
