"""`python -m aid questions|triage`: run as a real subprocess, as a user would."""

import json
import subprocess
import sys

import pytest

from aid import load_knowledge


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aid", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_questions_json_lists_every_question_with_what_it_allows():
    done = run("questions", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["id"] for r in rows] == list(load_knowledge().questions)
    saddle = next(r for r in rows if r["id"] == "saddle_numbness")
    assert "toilet paper" in saddle["prompt"] and saddle["allowed"] == "one of: yes, no"


def test_questions_text_groups_by_section():
    done = run("questions")
    assert done.returncode == 0
    for section in load_knowledge().sections:
        assert f"## {section}" in done.stdout


def test_saddle_numbness_yes_is_an_emergency_from_the_command_line(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"saddle_numbness": "yes"}))
    done = run("triage", str(path), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["urgency"] == "emergency"
    assert {"urgency", "reasons", "causes", "advice", "safety_net", "unanswered", "kb_version"} <= set(out)
    assert out["reasons"][0]["rule_id"] == "RF-CES-SADDLE"


def test_triage_reads_stdin_and_prints_markdown():
    answers = {"location": ["lower_back"], "injury": "lifting", "duration_days": 1, "severity": 5,
               "age": 30}
    done = run("triage", "-", stdin=json.dumps(answers))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Self-care")
    assert "When to get help" in done.stdout and "## Where to go" in done.stdout


def test_no_answers_is_not_enough_information_never_self_care():
    """Issue 12: advice that sounds safe never comes from missing information."""
    done = run("triage", "-", stdin="{}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Not enough information yet")
    assert "Self-care" not in done.stdout
    assert "(age)" in done.stdout and "call 999" in done.stdout
    assert "Numbness or pins and needles around your bottom" in done.stdout


@pytest.mark.parametrize(
    "payload, message",
    [
        ('{"age": 300}', "age: 300 is out of range; allowed: a number from 0 to 120"),
        ('{"fever": "maybe"}', "fever: unknown option 'maybe'; allowed: one of: yes, no"),
        ('{"pain": "yes"}', "pain: unknown question"),
        ('[1, 2]', "one JSON object keyed by question id"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_bad_answers_exit_2_with_a_clear_message(payload, message):
    done = run("triage", "-", "--json", stdin=payload)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_missing_file_exits_2():
    done = run("triage", "/nonexistent/answers.json")
    assert done.returncode == 2 and "cannot read /nonexistent/answers.json" in done.stderr
