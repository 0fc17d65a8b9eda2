"""`python -m aid questions|triage`: run as a real subprocess, as a user would."""

import json
import subprocess
import sys

import pytest

from aid import load_knowledge


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aid", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
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


PREGNANCY_SIGNS = ("pregnancy_weeks", "rhythmic", "vaginal_bleeding", "baby_moving_less")


def test_a_man_answering_pregnant_yes_gets_no_pregnancy_questions_and_is_told_why(tmp_path):
    """Issue 9, tried as a new user would: the pregnant answer is ignored, and said to be."""
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"sex": "male", "pregnant": "yes", "age": 30}))
    done = run("triage", str(path), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    unanswered = {u["question"] for u in out["unanswered"]} | set(out["unanswered_required"])
    assert unanswered.isdisjoint(PREGNANCY_SIGNS)
    assert [i["question"] for i in out["ignored"]] == ["pregnant"]
    assert out["ignored"][0]["reason"] == (
        "not asked because you answered 'Male' to 'What sex were you registered at birth?'"
    )
    assert "pregnant" not in out["answers"]
    text = run("triage", str(path)).stdout
    assert "## Answers not used" in text and "Are you pregnant? Yes: not asked because" in text


def test_questions_with_answers_lists_only_the_questions_asked(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"sex": "male"}))
    asked = [r["id"] for r in json.loads(run("questions", "--json", "--answers", str(path)).stdout)]
    assert "pregnant" not in asked and not set(PREGNANCY_SIGNS) & set(asked)
    assert "sex" in asked and "saddle_numbness" in asked
    path.write_text(json.dumps({"sex": "female", "pregnant": "yes"}))
    asked = [r["id"] for r in json.loads(run("questions", "--json", "--answers", str(path)).stdout)]
    assert set(PREGNANCY_SIGNS) <= set(asked)
    path.write_text(json.dumps({"sex": "man"}))
    done = run("questions", "--answers", str(path))
    assert done.returncode == 2 and "sex: unknown option 'man'" in done.stderr


def test_saddle_numbness_yes_is_an_emergency_from_the_command_line(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"saddle_numbness": "yes"}))
    done = run("triage", str(path), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["urgency"] == "emergency"
    assert {
        "urgency",
        "reasons",
        "causes",
        "advice",
        "safety_net",
        "unanswered",
        "kb_version",
    } <= set(out)
    assert out["reasons"][0]["rule_id"] == "RF-CES-SADDLE"


def test_triage_reads_stdin_and_prints_markdown():
    answers = {
        "location": ["lower_back"],
        "injury": "lifting",
        "duration_days": 1,
        "severity": 5,
        "age": 30,
    }
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
        ("[1, 2]", "one JSON object keyed by question id"),
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


# -- bad documents (issue 12): each reproduction exits 2 with a message, never a traceback ------

from aid.__main__ import MAX_ANSWERS_BYTES, MAX_NESTING  # noqa: E402


def run_bytes(data: bytes, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aid", "triage", "-", *args],
        input=data,
        capture_output=True,
        timeout=60,
    )


def test_five_thousand_digit_number_exits_2_naming_the_question():
    done = run_bytes(b'{"age": 1' + b"0" * 5000 + b"}")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "age: a number written with 5,001 digits is out of range" in err
    assert "Traceback" not in err and len(err) < 300


def test_nesting_deeper_than_the_parser_can_go_exits_2_naming_the_answer():
    done = run_bytes(b'{"location": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert f"the answer to 'location' is nested more than {MAX_NESTING} levels deep" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "data, message",
    [
        ('{"fever": "yes"}'.encode("utf-16"), "is UTF-16 text; save the answers as UTF-8 JSON"),
        ('{"fever": "café"}'.encode("latin-1"), "is not UTF-8 text (byte 0xE9 at position 14)"),
    ],
)
def test_an_answers_file_that_is_not_utf8_exits_2(tmp_path, data, message):
    path = tmp_path / "answers.json"
    path.write_bytes(data)
    done = run("triage", str(path))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_utf8_byte_order_mark_is_accepted():
    done = run_bytes('{"saddle_numbness": "yes"}'.encode("utf-8-sig"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["urgency"] == "emergency"


def test_a_file_larger_than_the_limit_is_refused_before_it_is_parsed():
    done = run_bytes(b'{"fever": "' + b"x" * MAX_ANSWERS_BYTES + b'"}')
    assert done.returncode == 2
    assert b"is larger than 1,048,576 bytes" in done.stderr


@pytest.mark.parametrize(
    "payload, message",
    [
        # A question answered twice would otherwise keep the last answer: a "yes" to a warning sign
        # could be replaced by a later "no" without a word.
        (
            '{"saddle_numbness": "yes", "saddle_numbness": "no"}',
            "'saddle_numbness' is answered twice",
        ),
        # NaN is not JSON; Python's reader accepts it and NaN means "unanswered" to aid.Answers.
        ('{"age": NaN}', "NaN is not a JSON value; leave a question out to leave it unanswered"),
        ('{"age": -Infinity}', "-Infinity is not a JSON value"),
        ('{"age": 1e999}', "age: inf is not a finite number"),
    ],
)
def test_json_that_python_would_accept_loosely_is_refused(payload, message):
    done = run("triage", "-", stdin=payload)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_an_unterminated_string_full_of_escaped_quotes_is_refused_in_linear_time():
    """Found by the fuzz test: a regex scan for JSON strings backtracked quadratically on an
    unterminated string of 400,000 escaped quotes (minutes). The timeout makes that a failure."""
    done = subprocess.run(
        [sys.executable, "-m", "aid", "triage", "-"],
        input=b'{"fever": "' + b'\\"' * 400_000,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2 and b"is not valid JSON" in done.stderr
