"""Triage semantics (DESIGN.md): urgency from red flags, where to go, causes, advice, unanswered."""

import json
import shutil
import textwrap

import pytest

from aid import Urgency, load_knowledge, triage
from aid.knowledge import DEFAULT_DIR
from aid.triage import MAX_CAUSES

# ------------------------------------------------------------ the real knowledge base


def test_nothing_answered_is_not_enough_information_with_every_red_flag_question_open():
    r = triage({})
    assert r.urgency is Urgency.SELFCARE and r.incomplete
    assert r.to_dict()["status"] == "incomplete"
    assert "Self-care" not in r.action and "Not enough information" in r.action
    assert r.reasons == ()
    asked = {u.question for u in r.unanswered}
    assert {"saddle_numbness", "bladder_trouble", "incontinence", "leg_weakness", "fever"} <= asked
    assert r.safety_net, "safety-netting advice is always present"
    assert set(r.unanswered_required) == {
        q.id for q in load_knowledge().questions.values() if q.required
    }


def test_saddle_numbness_prompt_is_in_patient_words_and_is_an_emergency():
    q = load_knowledge().questions["saddle_numbness"]
    assert "toilet paper" in q.prompt and "bottom" in q.prompt
    r = triage({"saddle_numbness": "yes"})
    assert r.urgency is Urgency.EMERGENCY
    assert r.reasons[0].rule_id == "RF-CES-SADDLE"
    assert r.reasons[0].answers[0].answer == "Yes"
    assert "G1" in r.reasons[0].source


def test_answering_a_red_flag_question_no_removes_it_from_unanswered():
    r = triage({"saddle_numbness": "no"})
    assert "saddle_numbness" not in {u.question for u in r.unanswered}


def test_unrelated_urgent_signs_do_not_stack_into_an_emergency():
    """Policy 'How rules combine': no blanket 'two urgent flags = emergency'."""
    r = triage({"fever": "yes", "blood_stool": "yes"})
    assert r.urgency is Urgency.URGENT
    assert {"RF-INF-FEVER", "RF-BLOOD-STOOL"} <= set(r.fired_rule_ids)


def test_a_combination_is_an_emergency_only_where_a_rule_names_it():
    fever_and_risk = triage({"fever": "yes", "history": ["injects_drugs"], "urine_pain": "no"})
    assert fever_and_risk.urgency is Urgency.EMERGENCY
    assert "RF-INF-RISK" in fever_and_risk.fired_rule_ids
    kidney = triage({"fever": "yes", "urine_pain": "yes", "location": ["flank"]})
    assert kidney.urgency is Urgency.URGENT, "one concern, one level"


def test_every_result_says_where_to_go():
    home = triage({"location": ["lower_back"], "duration_days": 1, "severity": 4, "age": 30})
    assert home.urgency is Urgency.SELFCARE and home.service.id == "home"
    ces = triage({"saddle_numbness": "yes"})
    assert ces.service.id == "emergency_department"
    assert "Do not drive yourself" in ces.service.instruction
    pregnant = triage({"pregnant": "yes", "vaginal_bleeding": "yes", "fever": "yes"})
    assert pregnant.service.id == "maternity_unit", "the specific service comes first"
    shingles = triage({"location": ["ribs"], "rash": "yes"})
    assert shingles.urgency is Urgency.URGENT and shingles.service.id == "pharmacist_today"
    assert triage({"rash": "yes", "fever": "yes"}).service.id == "same_day_gp"
    d = home.to_dict()["service"]
    assert d["id"] == "home" and d["name"] and d["instruction"]


def test_one_sided_foot_drop_is_same_day_both_legs_an_emergency():
    one = triage({"leg_weakness": "yes", "leg_weakness_side": "one_leg", "leg_weakness_new": "yes"})
    both = triage(
        {"leg_weakness": "yes", "leg_weakness_side": "both_legs", "leg_weakness_new": "yes"}
    )
    unknown_side = triage({"leg_weakness": "yes", "leg_weakness_new": "yes"})
    assert one.urgency is Urgency.URGENT
    assert both.urgency is unknown_side.urgency is Urgency.EMERGENCY


def test_long_standing_stable_leg_symptoms_are_not_an_emergency():
    stable = triage({"radiates": "both_legs", "leg_symptoms_new": "no"})
    assert stable.urgency is Urgency.SOON
    new = triage({"radiates": "both_legs", "leg_symptoms_new": "yes"})
    unknown = triage({"radiates": "both_legs"})
    assert new.urgency is unknown.urgency is Urgency.EMERGENCY


def test_isolated_constipation_is_not_an_emergency():
    r = triage(
        {
            "bowel_difficulty": "yes",
            "bladder_trouble": "no",
            "incontinence": "no",
            "saddle_numbness": "no",
        }
    )
    assert r.urgency is Urgency.SELFCARE
    unknown_saddle = triage({"bowel_difficulty": "yes"})
    assert unknown_saddle.urgency is Urgency.SOON, "saddle feeling not known to be normal"


def test_reasons_are_most_urgent_first_and_explained():
    r = triage({"saddle_numbness": "yes", "recurring": "yes", "fever": "yes"})
    ranks = [x.urgency.rank for x in r.reasons]
    assert ranks == sorted(ranks, reverse=True)
    for reason in r.reasons:
        assert reason.reason and reason.source and reason.answers


def test_to_dict_is_json_and_has_the_contract_keys():
    r = triage({"location": ["ribs"], "worse_with": ["breathing"], "age": 30, "fever": "yes"})
    d = json.loads(json.dumps(r.to_dict()))
    for key in (
        "status",
        "urgency",
        "service",
        "reasons",
        "causes",
        "advice",
        "safety_net",
        "unanswered",
        "kb_version",
    ):
        assert key in d
    assert d["urgency"] == "urgent"
    assert d["kb_version"] == load_knowledge().version
    assert d["answers"]["location"] == ["ribs"]


def test_triage_is_pure_and_deterministic():
    answers = {"location": ["lower_back"], "injury": "lifting", "age": 35, "severity": 5}
    assert triage(answers) == triage(dict(answers))


# ------------------------------------------------------------ mechanisms, on a tiny knowledge base


@pytest.fixture()
def tiny(tmp_path):
    d = tmp_path / "kb"
    d.mkdir()
    for name in ("sources.csv", "questions.csv", "services.csv"):
        shutil.copy(DEFAULT_DIR / name, d / name)
    (d / "red_flags.csv").write_text(
        textwrap.dedent("""\
        id,group,when,urgency,service,reason,clinician_note,source
        RF-A,one,fever=yes,urgent,same_day_gp,Fever.,,G2
        RF-B,two,blood_stool=yes,urgent,same_day_gp,Blood.,,S4
        RF-C,two,blood_urine=yes,urgent,same_day_gp,Urine blood.,,S4
        RF-E,nerves,saddle_numbness=yes,emergency,emergency_department,Saddle.,,G1
        """)
    )
    (d / "causes.csv").write_text(
        textwrap.dedent("""\
        id,name,lay_name,group,summary,source
        strain,Strain,Pulled muscle,muscular,May be a strain.,S3
        stone,Stone,Kidney stone,visceral,May be a stone.,G7
        weak,Weak,Weak evidence only,systemic,Rarely.,S4
        """)
    )
    (d / "cause_evidence.csv").write_text(
        textwrap.dedent("""\
        id,cause,when,weight,explanation,source
        E1,strain,injury=lifting,3,Lifting.,S2
        E2,stone,groin_waves=yes,5,Waves.,G7
        E3,stone,injury=lifting,-1,Lifting argues against.,G7
        E4,weak,injury=lifting,0.5,Barely.,S4
        """)
    )
    (d / "advice.csv").write_text(
        textwrap.dedent("""\
        id,kind,text,applies_to,when,avoid_when,avoid_reason,source
        A1,selfcare,Use heat.,strain,,,,S2
        A2,treatment,Take an anti-inflammatory.,strain,,history=kidney_disease or pregnant=yes,Can harm kidneys or a baby.,S3
        A3,tests,Urine test.,stone,,,,G7
        A4,selfcare,Drink water.,*,diet=low_fluids,,,S1
        N1,safetynet,Get help if worse.,*,,,,G10
        """)
    )
    return load_knowledge(d)


def test_causes_ranked_by_summed_weight_with_evidence(tiny):
    r = triage({"injury": "lifting", "groin_waves": "yes"}, tiny)
    assert [c.cause_id for c in r.causes] == ["stone", "strain"]  # 5-1=4 beats 3
    stone = r.causes[0]
    assert stone.score == 4 and [e.id for e in stone.evidence] == ["E2", "E3"]
    assert "weak" not in {c.cause_id for c in r.causes}, "below the minimum score"
    assert len(r.causes) <= MAX_CAUSES


def test_advice_follows_shown_causes_and_answers(tiny):
    r = triage({"injury": "lifting"}, tiny)
    assert [a.id for a in r.advice] == ["A1", "A2"]
    r = triage({"injury": "lifting", "diet": ["low_fluids"]}, tiny)
    assert [a.id for a in r.advice] == ["A1", "A2", "A4"]


@pytest.mark.parametrize("caution", [{"history": ["kidney_disease"]}, {"pregnant": "yes"}])
def test_cautions_withhold_advice_and_say_why(tiny, caution):
    r = triage({"injury": "lifting", **caution}, tiny)
    assert "A2" not in {a.id for a in r.advice}
    assert [(w.id, w.why) for w in r.withheld] == [("A2", "Can harm kidneys or a baby.")]


def test_no_self_care_advice_in_an_emergency_but_safety_net_stays(tiny):
    r = triage({"injury": "lifting", "saddle_numbness": "yes"}, tiny)
    assert r.urgency is Urgency.EMERGENCY
    assert r.advice == () and [a.id for a in r.safety_net] == ["N1"]


def test_urgent_rules_never_stack(tiny):
    assert triage({"blood_stool": "yes", "blood_urine": "yes"}, tiny).urgency is Urgency.URGENT
    assert triage({"blood_stool": "yes", "fever": "yes"}, tiny).urgency is Urgency.URGENT


def test_unanswered_lists_only_questions_that_could_raise_urgency(tiny):
    r = triage({"fever": "yes"}, tiny)
    # Only the emergency sign could raise an urgent result; the other urgent signs would not.
    assert {(u.question, u.could_raise_to) for u in r.unanswered} == {
        ("saddle_numbness", Urgency.EMERGENCY),
    }
    r = triage({"fever": "no"}, tiny)
    assert {(u.question, u.could_raise_to) for u in r.unanswered} == {
        ("saddle_numbness", Urgency.EMERGENCY),
        ("blood_stool", Urgency.URGENT),
        ("blood_urine", Urgency.URGENT),
    }


def test_ties_keep_table_order(tiny):
    # With waves weighing 4, stone scores 4 - 1 = 3, the same as strain: causes.csv order decides.
    from dataclasses import replace

    evidence = tuple(replace(e, weight=4.0) if e.id == "E2" else e for e in tiny.cause_evidence)
    tied = replace(tiny, cause_evidence=evidence)
    r = triage({"injury": "lifting", "groin_waves": "yes"}, tied)
    assert [(c.cause_id, c.score) for c in r.causes] == [("strain", 3), ("stone", 3)]


def test_sudden_extreme_rib_pain_that_stops_activity_is_same_day_when_fresh():
    base = {"location": ["ribs"], "onset": "sudden", "severity": 9, "immobile": "yes"}
    assert triage({**base, "duration_days": 2}).urgency is Urgency.URGENT
    assert triage({**base, "duration_days": 120}).urgency is Urgency.SOON
    assert triage({**base, "immobile": "no", "duration_days": 2}).urgency is Urgency.SELFCARE


def test_not_sure_if_pregnant_counts_as_possibly_pregnant():
    kb = load_knowledge()
    unsure = {"sex": "female", "pregnant": "unsure"}
    assert kb.questions["vaginal_bleeding"].enable_when.matches(unsure)
    assert triage({**unsure, "vaginal_bleeding": "yes"}).urgency is Urgency.EMERGENCY
    assert triage({**unsure, "rhythmic": "yes"}).urgency >= Urgency.URGENT
