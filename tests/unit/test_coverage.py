"""The knowledge base covers every item the source articles and guidelines name, in its own words.

The big table ``COVERAGE`` lists, article by article and guideline by guideline, each red flag,
cause, treatment, self-care measure, prevention tip, diagnostic test and warning that the source
contains, with the table row that carries it. Each entry asserts that the row exists and cites that
source, so deleting a row, renaming an id or dropping a citation fails a named test. A reviewer who
reads the articles (``sources.csv``: S1-S4) and ``clinical-references.md`` (G1-G10) can tick items
off this list.

Further checks:

* every source in ``sources.csv`` is cited by at least one row;
* every cause has evidence that can make it show, and its typical presentation ranks it first;
* advice that is unsafe for some people (anti-inflammatories, manipulation, minerals) is withheld
  for them with a reason;
* no row copies the articles: no run of ``RUN_LENGTH`` consecutive words is shared with any article.
  The articles are not part of the repository, so the check uses hashed word runs stored in
  ``article_fingerprints.txt`` (regenerate with ``python tests/unit/test_coverage.py``); when the
  articles are present, a test proves the stored fingerprints are current.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from aid.knowledge import load_knowledge
from aid.triage import MIN_CAUSE_SCORE, triage

HERE = Path(__file__).resolve().parent
FINGERPRINTS = HERE / "article_fingerprints.txt"
#: Where the four source articles live on the development machine (not in the repository).
SEEDS = Path(os.environ.get("AID_SEEDS_DIR", HERE.parents[2] / "shared" / "seeds"))
ARTICLE_FILES = {
    "S1": "000_52a83d203a978950.txt",
    "S2": "001_e7d96563a60eeb5c.txt",
    "S3": "002_47c46277d0215820.txt",
    "S4": "003_3bc31e904e27265b.txt",
}
#: This many consecutive words shared with an article counts as copying.
RUN_LENGTH = 8

KB = load_knowledge()
TABLES = {
    "red_flags": {r.id: r.source for r in KB.red_flags},
    "causes": {c.id: c.source for c in KB.causes.values()},
    "cause_evidence": {e.id: e.source for e in KB.cause_evidence},
    "advice": {a.id: a.source for a in KB.advice},
    "questions": {q.id: q.source for q in KB.questions.values()},
    "services": {s.id: s.source for s in KB.services.values()},
    # What the engine itself does, not a table row: tests/unit/test_triage.py proves each.
    "engine": {
        "highest-fired-rule": ("G17",),
        "no-stacking": ("G17",),
        "combination-by-rule": ("G17",),
    },
}

# (source id, the item in words, table, row id that covers it)
COVERAGE: list[tuple[str, str, str, str]] = [
    # ------------------------------------------------------------------ S1: rib cramps and the spine
    (
        "S1",
        "rib cramps come from the intercostal muscles, which can be pulled or inflamed",
        "causes",
        "intercostal_strain",
    ),
    (
        "S1",
        "sudden or extreme strain pulls the intercostal muscles",
        "cause_evidence",
        "CE-INTERCOSTAL-INJURY",
    ),
    (
        "S1",
        "overusing the intercostals in sport such as swimming or rowing",
        "cause_evidence",
        "CE-INTERCOSTAL-SPORT",
    ),
    ("S1", "bruised ribs from physical trauma", "causes", "bruised_ribs"),
    ("S1", "bruised ribs from a hard punch or blow", "cause_evidence", "CE-BRUISED-BLOW"),
    ("S1", "bruised ribs from a nasty fall", "cause_evidence", "CE-BRUISED-FALL"),
    (
        "S1",
        "sudden extreme rib pain: swift visit to a physician or urgent care",
        "red_flags",
        "RF-RIB-SUDDEN-EXTREME",
    ),
    ("S1", "rib pain that renders you inactive: swift visit", "red_flags", "RF-RIB-SUDDEN-EXTREME"),
    ("S1", "rib pain with tingling or numbness: swift visit", "red_flags", "RF-RIB-BAND"),
    (
        "S1",
        "the question that asks about tingling or numbness over the ribs",
        "questions",
        "rib_numbness",
    ),
    (
        "S1",
        "fresh, concerning pain: do not delay, earlier treatment means faster recovery",
        "advice",
        "AD-CA-DONT-IGNORE",
    ),
    ("S1", "recurring cramps mean you should see a specialist", "red_flags", "RF-RECURRING"),
    (
        "S1",
        "recurring cramps: see a specialist unless the reason is known",
        "advice",
        "AD-CA-RECURRING",
    ),
    ("S1", "severe physical exertion causes cramps", "causes", "exertion_overuse"),
    ("S1", "severe physical exertion (evidence)", "cause_evidence", "CE-EXERT-HARD"),
    ("S1", "strain from whiplash", "cause_evidence", "CE-EXERT-JOLT"),
    ("S1", "strain from trying to catch a heavy weight", "advice", "AD-PV-LIFT-KNEES"),
    ("S1", "dehydration is a common cause of cramping", "causes", "dehydration"),
    ("S1", "a lack of water", "cause_evidence", "CE-DEHYD-FLUIDS"),
    ("S1", "mineral deficiencies such as potassium and calcium", "causes", "mineral_deficiency"),
    ("S1", "mineral-poor diet (evidence)", "cause_evidence", "CE-MINERAL-DIET"),
    ("S1", "eat bananas", "advice", "AD-SC-BANANAS"),
    (
        "S1",
        "drink more water, 4-8 glasses a day depending on size and food",
        "advice",
        "AD-SC-HYDRATE",
    ),
    ("S1", "high sodium raises the need for water", "cause_evidence", "CE-DEHYD-SALT"),
    ("S1", "go easy on salt (sodium raises water needs)", "advice", "AD-PV-SALT"),
    ("S1", "stress as a cause of rib cramping", "causes", "stress_tension"),
    ("S1", "avoid rounding the lower back under any load", "advice", "AD-PV-LIFT-KNEES"),
    (
        "S1",
        "swollen or ruptured thoracic discs press on nerves to the rib muscles",
        "causes",
        "thoracic_disc_herniation",
    ),
    (
        "S1",
        "inflammatory proteins from a ruptured disc inflame the thoracic nerve",
        "cause_evidence",
        "CE-TDISC-BURNING",
    ),
    (
        "S1",
        "thoracic disc problem with a known disc (evidence)",
        "cause_evidence",
        "CE-TDISC-KNOWN",
    ),
    ("S1", "damage to the intercostal nerves causes cramping", "causes", "nerve_damage"),
    ("S1", "intercostal nerve irritation felt as rib tingling", "cause_evidence", "CE-NERVE-RIB"),
    ("S1", "damaged or displaced ribs press on the intercostal nerves", "causes", "displaced_rib"),
    (
        "S1",
        "displaced rib after injury with numbness (evidence)",
        "cause_evidence",
        "CE-DISPLACED-NUMB",
    ),
    (
        "S1",
        "thoracic osteoarthritis with bone spurs and nerve compression",
        "causes",
        "thoracic_osteoarthritis",
    ),
    ("S1", "thoracic osteoarthritis (evidence)", "cause_evidence", "CE-TOA-KNOWN"),
    ("S1", "stretch the muscle out; do not buckle over", "advice", "AD-SC-STRETCH-CRAMP"),
    ("S1", "a soft massage relaxes the muscles", "advice", "AD-SC-MASSAGE"),
    ("S1", "try mineral supplementation", "advice", "AD-SC-MINERALS"),
    (
        "S1",
        "shore up on nutrition: foods rich in potassium and calcium",
        "advice",
        "AD-PV-MINERAL-DIET",
    ),
    ("S1", "a short break from exercising", "advice", "AD-SC-EXERCISE-BREAK"),
    ("S1", "a doctor will likely take an X-ray", "advice", "AD-TS-XRAY"),
    ("S1", "visit a doctor who will run diagnostic tests", "advice", "AD-TS-HISTORY-EXAM"),
    ("S1", "tell the doctor about your symptoms", "advice", "AD-CA-TELL-ALL"),
    (
        "S1",
        "inform the physician of any major injury to the upper back, chest or abdomen",
        "advice",
        "AD-CA-TELL-INJURY",
    ),
    ("S1", "do not ignore the pain", "advice", "AD-CA-DONT-IGNORE"),
    (
        "S1",
        "reader comment: compression fracture of a thoracic vertebra with cramps",
        "causes",
        "compression_fracture",
    ),
    (
        "S1",
        "reader comment: known vertebral fracture (evidence)",
        "cause_evidence",
        "CE-FRACTURE-KNOWN",
    ),
    (
        "S1",
        "reader comment: constant cramps after spine surgery",
        "cause_evidence",
        "CE-NERVE-SURGERY",
    ),
    ("S1", "cramps that keep coming back: safety net", "advice", "AD-SAFETY-RECURRING"),
    (
        "S1",
        "most cramps are temporary; see a doctor when they do not settle",
        "advice",
        "AD-SAFETY-NOT-IMPROVING",
    ),
    ("S1", "damage to the pleura (lung lining) is felt at the ribs too", "causes", "heart_or_lung"),
    # ------------------------------------------------------------------ S2: what causes back cramps
    ("S2", "a pulled muscle is among the most common causes", "causes", "muscle_strain"),
    ("S2", "injury from lifting something too heavy", "cause_evidence", "CE-STRAIN-LIFT"),
    ("S2", "heavy lifting (evidence)", "cause_evidence", "CE-STRAIN-HEAVY"),
    ("S2", "not warming up before exercise", "cause_evidence", "CE-STRAIN-NOWARMUP"),
    ("S2", "poor posture", "causes", "posture_lifting"),
    ("S2", "sitting incorrectly in a chair", "cause_evidence", "CE-POSTURE-SITTING"),
    ("S2", "improper lifting methods", "cause_evidence", "CE-POSTURE-LIFT"),
    ("S2", "wearing improper shoes all day", "cause_evidence", "CE-POSTURE-SHOES"),
    ("S2", "overexertion through exercise", "causes", "exertion_overuse"),
    ("S2", "menstrual cramps cause back cramps", "causes", "menstrual_cramps"),
    ("S2", "cramps with a period (evidence)", "cause_evidence", "CE-PERIOD"),
    (
        "S2",
        "if the pain is not muscular, see a doctor to rule out spinal problems",
        "advice",
        "AD-CA-NOT-MUSCULAR",
    ),
    ("S2", "warm up properly before exercising", "advice", "AD-PV-WARMUP"),
    (
        "S2",
        "bend from the knees and use arms and chest, not the lower back, to lift",
        "advice",
        "AD-PV-LIFT-KNEES",
    ),
    (
        "S2",
        "stretch after every workout, properly: hinge at the waist, no rounding or overextending",
        "advice",
        "AD-PV-STRETCH-PROPERLY",
    ),
    ("S2", "wear shoes that support the arches", "advice", "AD-PV-SHOES"),
    (
        "S2",
        "keep hips, shoulders and ears aligned; neutral spine; do not round the shoulders",
        "advice",
        "AD-PV-POSTURE",
    ),
    ("S2", "do not sit incorrectly for long", "advice", "AD-PV-LESS-SITTING"),
    (
        "S2",
        "stretch the arms above the head and to the sides for a tired spine",
        "advice",
        "AD-SC-OVERHEAD-STRETCH",
    ),
    ("S2", "heat: heating pad, hot bath or shower", "advice", "AD-SC-HEAT"),
    ("S2", "muscle relaxants", "advice", "AD-TX-RELAXANT"),
    ("S2", "over-the-counter anti-inflammatory drugs", "advice", "AD-TX-NSAID"),
    (
        "S2",
        "anti-inflammatories and heat help especially with menstrual back cramps",
        "advice",
        "AD-TX-PERIOD",
    ),
    ("S2", "massage to release knots", "advice", "AD-SC-MASSAGE"),
    ("S2", "stress and tension make cramps worse", "cause_evidence", "CE-STRESS"),
    ("S2", "easing stress and tension", "advice", "AD-SC-RELAX"),
    (
        "S2",
        "reader comment: back cramps in late pregnancy that came in waves were labour",
        "causes",
        "labour",
    ),
    (
        "S2",
        "reader comment: rhythmic cramps in pregnancy (evidence)",
        "cause_evidence",
        "CE-LABOUR-RHYTHM",
    ),
    ("S2", "reader comment: rhythmic cramps in pregnancy (warning sign)", "red_flags", "RF-LABOUR"),
    (
        "S2",
        "reader comment: food poisoning with back cramps wrapping round the stomach",
        "causes",
        "food_poisoning",
    ),
    ("S2", "reader comment: food poisoning (evidence)", "cause_evidence", "CE-FOOD-SUSPECT"),
    (
        "S2",
        "reader comment: cramps in back and stomach with vomiting",
        "cause_evidence",
        "CE-FOOD-WRAP",
    ),
    ("S2", "reader comment: dizzy and clammy, then vomiting", "cause_evidence", "CE-FOOD-FAINT"),
    (
        "S2",
        "reader comment: vomiting so much that drinks do not stay down",
        "red_flags",
        "RF-VOMIT-FLUIDS",
    ),
    ("S2", "reader comment: food poisoning, keep sipping fluids", "advice", "AD-SC-SIPS"),
    ("S2", "reader comment: food poisoning lasted days; when to get help", "advice", "AD-CA-FOOD"),
    ("S2", "reader comment: wrong running posture and too-heavy dumbbells", "advice", "AD-PV-FORM"),
    ("S2", "reader comment: muscle rub on the lower back", "advice", "AD-TX-TOPICAL"),
    # ------------------------------------------------------------------ S3: debilitating back cramps
    ("S3", "a certain movement can trigger a back cramp", "cause_evidence", "CE-STRAIN-MOVEMENT"),
    ("S3", "muscle weakness causes cramps", "causes", "muscle_weakness"),
    ("S3", "weak, deconditioned muscles (evidence)", "cause_evidence", "CE-WEAK-INACTIVE"),
    ("S3", "overuse causes cramps", "causes", "exertion_overuse"),
    ("S3", "injury causes cramps", "causes", "muscle_strain"),
    ("S3", "chronic cramps can come from an underlying condition", "red_flags", "RF-CHRONIC"),
    ("S3", "severe spasms from nerve irritation or damage", "causes", "nerve_damage"),
    ("S3", "severe recurring spasms (evidence)", "cause_evidence", "CE-NERVE-SEVERE-RECUR"),
    ("S3", "muscle strain from overuse, sudden force or rotation", "causes", "muscle_strain"),
    (
        "S3",
        "the lower back is a common place for pulled muscles",
        "cause_evidence",
        "CE-STRAIN-LOWBACK",
    ),
    ("S3", "sports injury strains a back muscle", "cause_evidence", "CE-STRAIN-SPORT"),
    ("S3", "facet joint arthrosis", "causes", "facet_osteoarthritis"),
    ("S3", "facet joint arthrosis (evidence)", "cause_evidence", "CE-FACET-KNOWN"),
    ("S3", "degenerative disc disease", "causes", "degenerative_disc_disease"),
    ("S3", "degenerative disc disease (evidence)", "cause_evidence", "CE-DDD-KNOWN"),
    (
        "S3",
        "disc prolapse (herniated disc) from repetitive stress, trauma or ageing",
        "causes",
        "disc_herniation",
    ),
    ("S3", "herniated disc (evidence)", "cause_evidence", "CE-DISC-KNOWN"),
    ("S3", "herniated disc pressing on a nerve root down a leg", "cause_evidence", "CE-DISC-LEG"),
    (
        "S3",
        "several warning signs together are an emergency (each of S3's list is one already)",
        "red_flags",
        "RF-CES-BILATERAL",
    ),
    ("S3", "several warning signs together: safety net", "advice", "AD-SAFETY-SEVERAL"),
    ("S3", "cannot control bladder or bowels", "red_flags", "RF-CES-INCONTINENCE"),
    ("S3", "incontinence from severe nerve compression", "causes", "cauda_equina_syndrome"),
    ("S3", "incontinence from infection", "causes", "spinal_infection"),
    ("S3", "numbness in the groin or buttock area", "red_flags", "RF-CES-SADDLE"),
    ("S3", "tingling can be a symptom of sciatica", "red_flags", "RF-NUMB-WORSENING"),
    ("S3", "sudden weakness in the legs", "red_flags", "RF-CES-WEAK-BOTH"),
    ("S3", "pain radiating down to the legs", "red_flags", "RF-SCIATICA-ONE"),
    (
        "S3",
        "pain radiating down both legs (severe nerve compression)",
        "red_flags",
        "RF-CES-BILATERAL",
    ),
    ("S3", "sharp pain can mean a kidney problem", "red_flags", "RF-SHARP-FLANK"),
    ("S3", "sharp pain may be a muscle injury or an organ", "advice", "AD-CA-SHARP"),
    ("S3", "sharp pain in the kidney area (evidence)", "cause_evidence", "CE-STONE-FLANK"),
    ("S3", "sciatica: irritated sciatic nerve, pain from back to toes", "causes", "sciatica"),
    ("S3", "sciatica (evidence)", "cause_evidence", "CE-SCIATICA-ONE"),
    (
        "S3",
        "diagnosis: medical history and description of the pain",
        "advice",
        "AD-TS-HISTORY-EXAM",
    ),
    ("S3", "X-rays", "advice", "AD-TS-XRAY"),
    ("S3", "electromyography to test nerve impulses", "advice", "AD-TS-EMG"),
    ("S3", "myelogram", "advice", "AD-TS-MYELOGRAM"),
    ("S3", "magnetic resonance imaging (MRI)", "advice", "AD-TS-MRI"),
    ("S3", "computed tomography (CT)", "advice", "AD-TS-CT"),
    ("S3", "blood tests", "advice", "AD-TS-BLOOD"),
    (
        "S3",
        "treatment targets the underlying cause and differs for acute and chronic pain",
        "advice",
        "AD-TX-UNDERLYING",
    ),
    ("S3", "acute: OTC NSAIDs", "advice", "AD-TX-NSAID"),
    ("S3", "acute: topical pain creams or gels", "advice", "AD-TX-TOPICAL"),
    ("S3", "acute and chronic: heat therapy", "advice", "AD-SC-HEAT"),
    ("S3", "acute and chronic: cold therapy", "advice", "AD-SC-COLD"),
    ("S3", "acute: muscle relaxants", "advice", "AD-TX-RELAXANT"),
    ("S3", "acute: stretches recommended by a doctor", "advice", "AD-TX-DOCTOR-STRETCHES"),
    ("S3", "rest briefly for a sudden spasm; no long rest", "advice", "AD-SC-BRIEF-REST"),
    ("S3", "doctors do not recommend long periods of rest", "advice", "AD-SC-STAY-ACTIVE"),
    (
        "S3",
        "chronic: physiotherapy to strengthen muscles and fix imbalances",
        "advice",
        "AD-TX-PHYSIO",
    ),
    ("S3", "chronic: relaxation strategies", "advice", "AD-SC-RELAX"),
    ("S3", "chronic: lifestyle changes including posture", "advice", "AD-TX-LIFESTYLE"),
    ("S3", "chronic: steroid injections or nerve blocks", "advice", "AD-TX-INJECTION"),
    (
        "S3",
        "chronic: NSAIDs and opioids, opioids carry a risk of addiction",
        "advice",
        "AD-TX-OPIOID",
    ),
    ("S3", "chronic: gentle exercise", "advice", "AD-TX-GENTLE-EXERCISE"),
    ("S3", "alternative therapy: acupuncture", "advice", "AD-TX-ACUPUNCTURE"),
    ("S3", "surgery is a last resort with no guarantee", "advice", "AD-TX-SURGERY"),
    (
        "S3",
        "combination therapy such as physiotherapy with steroid injections",
        "advice",
        "AD-TX-COMBINED",
    ),
    ("S3", "minimise the time spent sitting", "advice", "AD-PV-LESS-SITTING"),
    ("S3", "good posture when sitting and standing", "advice", "AD-PV-POSTURE"),
    ("S3", "good form when lifting or exercising", "advice", "AD-PV-FORM"),
    ("S3", "good form when lifting heavy objects", "advice", "AD-PV-LIFT-KNEES"),
    ("S3", "a comfortable, supportive mattress", "advice", "AD-PV-MATTRESS"),
    ("S3", "avoid sleeping on the stomach", "advice", "AD-PV-NO-STOMACH-SLEEP"),
    ("S3", "strengthen back and abdominal muscles", "advice", "AD-PV-CORE"),
    ("S3", "do sports, avoid strenuous movements that strain the back", "advice", "AD-PV-EXERCISE"),
    ("S3", "warm up with dynamic stretching", "advice", "AD-PV-WARMUP"),
    (
        "S3",
        "chiropractic: see a doctor first; manipulation not for spinal arthritis",
        "advice",
        "AD-TX-CHIRO",
    ),
    (
        "S3",
        "cramps that keep disrupting life: see a doctor even if it seems minor",
        "advice",
        "AD-CA-DISRUPTING",
    ),
    ("S3", "debilitating pain that stops daily activities", "red_flags", "RF-DISABLING"),
    ("S3", "the question about being unable to move or do everyday tasks", "questions", "immobile"),
    # ------------------------------------------------------------------ S4: lower back cramps
    (
        "S4",
        "cramps may not seem connected to their root cause, which must be treated",
        "advice",
        "AD-TX-UNDERLYING",
    ),
    (
        "S4",
        "injury from accidents or exercise to muscles, ligaments or tendons",
        "causes",
        "muscle_strain",
    ),
    (
        "S4",
        "nerve tissue damage from trauma or a chronic neurological condition",
        "causes",
        "nerve_damage",
    ),
    ("S4", "known nerve condition (evidence)", "cause_evidence", "CE-NERVE-KNOWN"),
    ("S4", "nerve damage from trauma (evidence)", "cause_evidence", "CE-NERVE-TRAUMA"),
    ("S4", "spinal stenosis from arthritis, fracture or inflammation", "causes", "spinal_stenosis"),
    ("S4", "spinal stenosis (evidence)", "cause_evidence", "CE-STENOSIS-KNOWN"),
    (
        "S4",
        "spinal stenosis narrowed by arthritis or fracture (evidence)",
        "cause_evidence",
        "CE-STENOSIS-ARTHRITIS",
    ),
    ("S4", "mineral deficiencies such as magnesium or potassium", "causes", "mineral_deficiency"),
    ("S4", "dehydration impairs muscle function", "causes", "dehydration"),
    ("S4", "kidney stones", "causes", "kidney_stones"),
    ("S4", "kidney infection", "causes", "kidney_infection"),
    (
        "S4",
        "known kidney stones with pain in the kidney area",
        "red_flags",
        "RF-FLANK-KNOWN-STONES",
    ),
    ("S4", "side effects of medication", "causes", "medication_side_effect"),
    ("S4", "statins affect muscles (evidence)", "cause_evidence", "CE-MED-STATIN"),
    ("S4", "uterine contractions during menses", "causes", "menstrual_cramps"),
    ("S4", "seek help for severe cramps", "red_flags", "RF-SELFCARE-FAILED"),
    (
        "S4",
        "seek help when cramps persist after conservative treatment",
        "red_flags",
        "RF-SELFCARE-FAILED",
    ),
    ("S4", "seek help when cramps become worse", "red_flags", "RF-WORSENING"),
    ("S4", "difficulty urinating", "red_flags", "RF-CES-BLADDER"),
    ("S4", "pain when urinating", "red_flags", "RF-URINE-PAIN"),
    ("S4", "blood in the urine", "red_flags", "RF-BLOOD-URINE"),
    ("S4", "blood in the stool", "red_flags", "RF-BLOOD-STOOL"),
    ("S4", "other changes in urinary output", "red_flags", "RF-URINE-CHANGE"),
    ("S4", "difficulty with bowel movements", "red_flags", "RF-CONSTIPATION-UNCHECKED"),
    ("S4", "incontinence", "red_flags", "RF-CES-INCONTINENCE"),
    ("S4", "numbness or altered sensation in the lower limbs", "red_flags", "RF-NUMB-WORSENING"),
    ("S4", "long-standing numbness in the lower limbs", "red_flags", "RF-NUMB-OLD"),
    ("S4", "difficulty walking", "red_flags", "RF-NEURO-WEAK-ONE"),
    ("S4", "after an accident or sporting mishap get checked", "red_flags", "RF-TRAUMA-MAJOR"),
    ("S4", "after a serious accident: rule out serious injury", "red_flags", "RF-TRAUMA-MAJOR"),
    ("S4", "after an accident or sporting mishap get checked (advice)", "advice", "AD-CA-ACCIDENT"),
    ("S4", "rest and relaxation", "advice", "AD-SC-RELAX"),
    ("S4", "a short rest", "advice", "AD-SC-BRIEF-REST"),
    ("S4", "a warm bath", "advice", "AD-SC-HEAT"),
    ("S4", "gentle massage", "advice", "AD-SC-MASSAGE"),
    ("S4", "a good night's sleep", "advice", "AD-SC-SLEEP"),
    ("S4", "magnesium", "advice", "AD-SC-MINERALS"),
    ("S4", "drinking water", "advice", "AD-SC-HYDRATE"),
    ("S4", "a healthy snack with carbohydrates", "advice", "AD-SC-CARB-SNACK"),
    ("S4", "flotation therapy", "advice", "AD-SC-FLOTATION"),
    ("S4", "acupuncture to disrupt faulty nerve signals", "advice", "AD-TX-ACUPUNCTURE"),
    ("S4", "a cold compress 12-15 minutes every two hours", "advice", "AD-SC-COLD"),
    ("S4", "a warm compress to relax muscles", "advice", "AD-SC-HEAT"),
    (
        "S4",
        "gentle stretching; do not stiffen up through inactivity",
        "advice",
        "AD-SC-STAY-ACTIVE",
    ),
    (
        "S4",
        "most cramps resolve in a couple of days; if they persist, see a physician",
        "advice",
        "AD-SAFETY-NOT-IMPROVING",
    ),
    ("S4", "persisting cramps (warning sign)", "red_flags", "RF-PERSISTING"),
    (
        "S4",
        "medications affecting muscles (statins), kidneys or nerves may be altered",
        "advice",
        "AD-TX-MED-REVIEW",
    ),
    ("S4", "medicine changes are the physician's decision", "advice", "AD-CA-MED-STOP"),
    (
        "S4",
        "muscle relaxants or low-dose amitriptyline for nerve-related cramps",
        "advice",
        "AD-TX-AMITRIPTYLINE",
    ),
    ("S4", "NSAIDs", "advice", "AD-TX-NSAID"),
    ("S4", "natural anti-inflammatory products", "advice", "AD-TX-NATURAL"),
    ("S4", "uncontrolled diabetes", "causes", "diabetes"),
    ("S4", "signs of high blood sugar (evidence)", "cause_evidence", "CE-DIAB-THIRST"),
    ("S4", "vitamin B12 deficiency", "causes", "b12_deficiency"),
    ("S4", "tingling from low B12 (evidence)", "cause_evidence", "CE-B12-TINGLE"),
    ("S4", "diabetes or B12: tell the physician", "advice", "AD-CA-DIABETES-B12"),
    ("S4", "tell the physician about all symptoms", "advice", "AD-CA-TELL-ALL"),
    ("S4", "physical therapy to analyse posture and strengthen the back", "advice", "AD-TX-PHYSIO"),
    ("S4", "physical therapy to prevent cramps", "advice", "AD-PV-PHYSIO-RECURRING"),
    ("S4", "avoid wearing high heels", "advice", "AD-PV-SHOES"),
    ("S4", "reorganise the workstation", "advice", "AD-PV-WORKSTATION"),
    ("S4", "a new mattress", "advice", "AD-PV-MATTRESS"),
    ("S4", "quit smoking", "advice", "AD-PV-SMOKING"),
    ("S4", "a healthy body weight", "advice", "AD-PV-WEIGHT"),
    ("S4", "appropriate back pain relief products", "advice", "AD-SC-RELIEF-PRODUCTS"),
    ("S4", "correct lifting technique", "advice", "AD-PV-LIFT-KNEES"),
    ("S4", "regular exercise", "advice", "AD-PV-EXERCISE"),
    ("S4", "spondylolisthesis", "causes", "spondylolisthesis"),
    ("S4", "spondylolisthesis (evidence)", "cause_evidence", "CE-SPONDY-KNOWN"),
    ("S4", "scoliosis", "causes", "scoliosis"),
    ("S4", "scoliosis (evidence)", "cause_evidence", "CE-SCOLIOSIS-CURVE"),
    (
        "S4",
        "surgery only as a last resort after options such as cortisone injections",
        "advice",
        "AD-TX-SURGERY",
    ),
    ("S4", "cortisone injections", "advice", "AD-TX-INJECTION"),
    # ------------------------------------------------------------------ G1: cauda equina syndrome
    ("G1", "cauda equina syndrome", "causes", "cauda_equina_syndrome"),
    ("G1", "difficulty passing urine, weak stream, retention", "red_flags", "RF-CES-BLADDER"),
    ("G1", "loss of bladder or bowel control", "red_flags", "RF-CES-INCONTINENCE"),
    ("G1", "saddle numbness (cannot feel the toilet paper)", "red_flags", "RF-CES-SADDLE"),
    ("G1", "new sexual dysfunction", "red_flags", "RF-CES-SEXUAL"),
    ("G1", "sciatica in both legs or becoming two-sided", "red_flags", "RF-CES-BILATERAL"),
    (
        "G1",
        "severe or progressive weakness in both legs, difficulty walking",
        "red_flags",
        "RF-CES-WEAK-BOTH",
    ),
    ("G1", "long-standing stable weakness is not an emergency", "red_flags", "RF-NEURO-WEAK-OLD"),
    (
        "G1",
        "long-standing stable two-sided leg symptoms are not an emergency",
        "red_flags",
        "RF-SCIATICA-BOTH-OLD",
    ),
    ("G1", "ask whether leg symptoms are new within two weeks", "questions", "leg_symptoms_new"),
    (
        "G1",
        "isolated constipation (often codeine) is not a CES sign",
        "red_flags",
        "RF-CONSTIPATION-UNCHECKED",
    ),
    ("G1", "isolated constipation is not a CES sign (advice)", "advice", "AD-CA-CONSTIPATION"),
    ("G1", "suspected CES: urgent MRI", "advice", "AD-TS-MRI-CES"),
    ("G1", "suspected CES (evidence)", "cause_evidence", "CE-CES-SADDLE"),
    # ------------------------------------------------------------------ G2: spinal infection
    (
        "G2",
        "spinal infection (discitis, osteomyelitis, epidural abscess)",
        "causes",
        "spinal_infection",
    ),
    ("G2", "fever or feeling unwell with back pain: urgent", "red_flags", "RF-INF-FEVER"),
    ("G2", "fever with weakness: emergency", "red_flags", "RF-INF-NEURO-WEAK"),
    ("G2", "fever with numbness: emergency", "red_flags", "RF-INF-NEURO-NUMB"),
    (
        "G2",
        "risk factors: IV drugs, immunosuppression, diabetes, recent infection or spinal procedure",
        "red_flags",
        "RF-INF-RISK",
    ),
    ("G2", "risk factors without fever", "red_flags", "RF-INF-RISK-NOFEVER"),
    ("G2", "fever with risk factors (evidence)", "cause_evidence", "CE-INF-RISK"),
    ("G2", "blood tests for infection", "advice", "AD-TS-BLOOD"),
    (
        "G2",
        "fever with back pain: today; with neurological signs: emergency",
        "advice",
        "AD-CA-INFECTION",
    ),
    # ------------------------------------------------------------------ G3: cancer
    ("G3", "metastatic spinal disease", "causes", "spinal_cancer"),
    ("G3", "past cancer with new back pain: urgent", "red_flags", "RF-CANCER-HISTORY"),
    ("G3", "past cancer with weakness: emergency", "red_flags", "RF-CANCER-NEURO-WEAK"),
    ("G3", "past cancer with numbness: emergency", "red_flags", "RF-CANCER-NEURO-NUMB"),
    ("G3", "unexplained weight loss", "red_flags", "RF-WEIGHT-LOSS"),
    ("G3", "constant pain, worse at night or lying down", "red_flags", "RF-NIGHT-PAIN"),
    ("G3", "age over 50 with a new kind of back pain", "red_flags", "RF-AGE-NEW-NO-STRAIN"),
    (
        "G3",
        "several weaker flags together are still soon (changed in the revised policy)",
        "red_flags",
        "RF-WEIGHT-LOSS",
    ),
    ("G3", "past cancer with long-known pain: review", "red_flags", "RF-CANCER-HISTORY-KNOWN"),
    (
        "G3",
        "past cancer: see a doctor today; weak legs make it an emergency",
        "advice",
        "AD-CA-CANCER",
    ),
    ("G3", "thoracic pain after cancer", "cause_evidence", "CE-CANCER-THORACIC"),
    (
        "G3",
        "history of cancer is the most informative sign (evidence)",
        "cause_evidence",
        "CE-CANCER-HISTORY",
    ),
    # ------------------------------------------------------------------ G4: fracture
    ("G4", "vertebral compression fracture", "causes", "compression_fracture"),
    ("G4", "major trauma: emergency", "red_flags", "RF-TRAUMA-MAJOR"),
    (
        "G4",
        "minor trauma with osteoporosis or long-term steroids: urgent",
        "red_flags",
        "RF-FRACTURE-RISK",
    ),
    ("G4", "minor trauma over about 70: urgent", "red_flags", "RF-FRACTURE-AGE"),
    (
        "G4",
        "sudden severe central pain with fragile bones",
        "red_flags",
        "RF-FRACTURE-FRAGILE-SUDDEN",
    ),
    ("G4", "possible fracture: avoid lifting until checked", "advice", "AD-CA-FRACTURE"),
    ("G4", "minor trauma with fragile bones (evidence)", "cause_evidence", "CE-FRACTURE-FRAGILE"),
    (
        "G4",
        "sudden severe pain with fragile bones (evidence)",
        "cause_evidence",
        "CE-FRACTURE-SUDDEN",
    ),
    ("G4", "X-ray for a suspected fracture", "advice", "AD-TS-XRAY"),
    # ------------------------------------------------------------------ G5: aorta
    ("G5", "aortic aneurysm or dissection", "causes", "aortic_aneurysm"),
    ("G5", "pulsing feeling in the abdomen", "red_flags", "RF-AORTA-PULSING"),
    ("G5", "sudden severe pain with fainting or light-headedness", "red_flags", "RF-AORTA-FAINT"),
    ("G5", "sudden severe pain with clammy sweating", "red_flags", "RF-AORTA-CLAMMY"),
    ("G5", "known aneurysm with sudden pain", "red_flags", "RF-AORTA-KNOWN"),
    ("G5", "over 50 and a smoker (evidence)", "cause_evidence", "CE-AORTA-RISK"),
    # ------------------------------------------------------------------ G6: chest
    ("G6", "heart or lung cause of rib or upper back pain", "causes", "heart_or_lung"),
    (
        "G6",
        "chest tightness, spreading pain, breathlessness, coughing blood",
        "red_flags",
        "RF-CHEST-CARDIAC",
    ),
    (
        "G6",
        "sudden breathlessness with sharp pain on breathing in",
        "red_flags",
        "RF-CHEST-PLEURITIC",
    ),
    ("G6", "rib or upper back pain with sweating or nausea", "red_flags", "RF-CHEST-AUTONOMIC"),
    ("G6", "call for emergency help now", "advice", "AD-CA-EMERGENCY"),
    ("G6", "hospital checks of the heart and lungs", "advice", "AD-TS-CHEST"),
    # ------------------------------------------------------------------ G7: kidney
    ("G7", "renal colic", "causes", "kidney_stones"),
    ("G7", "pyelonephritis", "causes", "kidney_infection"),
    ("G7", "colicky loin pain to the groin: urgent", "red_flags", "RF-RENAL-COLIC"),
    ("G7", "blood in the urine with colic", "red_flags", "RF-BLOOD-URINE"),
    ("G7", "colic with fever or shivering: emergency", "red_flags", "RF-RENAL-COLIC-FEVER"),
    ("G7", "colic with vomiting that stops fluids: emergency", "red_flags", "RF-RENAL-COLIC-VOMIT"),
    ("G7", "vomiting that stops fluids", "red_flags", "RF-VOMIT-FLUIDS"),
    ("G7", "kidney infection in pregnancy: emergency", "red_flags", "RF-KIDNEY-PREGNANT-URINE"),
    ("G7", "pain relief and fluids for a kidney stone", "advice", "AD-TX-KIDNEY-STONE"),
    ("G7", "colic with a single kidney: emergency", "red_flags", "RF-RENAL-COLIC-SINGLE"),
    ("G7", "colic in pregnancy: emergency", "red_flags", "RF-RENAL-COLIC-PREGNANT"),
    (
        "G7",
        "flank pain with fever and painful urination: urgent",
        "red_flags",
        "RF-KIDNEY-INFECTION",
    ),
    ("G7", "kidney infection with fever (evidence)", "cause_evidence", "CE-KINF-FEVER-URINE"),
    ("G7", "colic in waves to the groin (evidence)", "cause_evidence", "CE-STONE-WAVES"),
    ("G7", "urine test", "advice", "AD-TS-URINE"),
    ("G7", "antibiotics for a kidney infection", "advice", "AD-TX-KIDNEY-INFECTION"),
    ("G7", "kidney pain: when to go to hospital", "advice", "AD-CA-KIDNEY"),
    # ------------------------------------------------------------------ G8: axial spondyloarthritis
    ("G8", "axial spondyloarthritis", "causes", "axial_spondyloarthritis"),
    (
        "G8",
        "over 3 months, onset before 45, morning stiffness: refer",
        "red_flags",
        "RF-INFLAMMATORY",
    ),
    ("G8", "inflammatory pattern (evidence)", "cause_evidence", "CE-AXSPA-PATTERN"),
    ("G8", "improves with exercise not rest", "cause_evidence", "CE-AXSPA-STIFF"),
    ("G8", "waking in the second half of the night", "cause_evidence", "CE-AXSPA-NIGHT"),
    ("G8", "alternating buttock pain", "cause_evidence", "CE-AXSPA-BUTTOCK"),
    ("G8", "referral to a rheumatologist", "advice", "AD-TS-RHEUM"),
    # ------------------------------------------------------------------ G9: pregnancy
    (
        "G9",
        "rhythmic back cramps in pregnancy may be labour: contact the maternity unit",
        "red_flags",
        "RF-LABOUR",
    ),
    ("G9", "labour with fever: emergency", "red_flags", "RF-LABOUR-FEVER"),
    (
        "G9",
        "back pain with vaginal bleeding or fluid in pregnancy: emergency",
        "red_flags",
        "RF-PREG-BLEEDING",
    ),
    ("G9", "labour", "causes", "labour"),
    ("G9", "back pain in pregnancy", "causes", "pregnancy_back_pain"),
    ("G9", "in pregnancy check any medicine with the midwife", "advice", "AD-CA-PREGNANCY-MEDS"),
    (
        "G9",
        "contact the maternity unit; bleeding, waters before 37 weeks or fever need emergency care",
        "advice",
        "AD-CA-LABOUR",
    ),
    # ------------------------------------------------------------------ G10: safety-netting
    ("G10", "seek help if not improving after a few days", "advice", "AD-SAFETY-NOT-IMPROVING"),
    ("G10", "seek help if it gets worse", "advice", "AD-SAFETY-GETTING-WORSE"),
    ("G10", "seek help if it keeps coming back", "advice", "AD-SAFETY-RECURRING"),
    ("G10", "get help at once with any warning sign", "advice", "AD-SAFETY-WORSE"),
    ("G10", "no prolonged bed rest; keep gently active", "advice", "AD-SC-STAY-ACTIVE"),
    ("G10", "not improving after a few days (warning sign)", "red_flags", "RF-PERSISTING"),
    ("G10", "getting worse (warning sign)", "red_flags", "RF-WORSENING"),
    ("G10", "keeps coming back (warning sign)", "red_flags", "RF-RECURRING"),
]


# ------------------------------------------------------------------ the revised policy, line by line
#: Where the product policy lives on the development machine and in CI (beside the repository).
POLICY_FILE = Path(
    os.environ.get("AID_POLICY_FILE", HERE.parents[2] / "shared" / "clinical-references.md")
)
#: Sections of the policy that are product policy (the others describe levels or other tools).
POLICY_SKIP_SECTIONS = ("Levels", "What the best triage tools do")

#: (source id, the policy line's first words, rows that carry it). Every bullet and every "Where
#: to go" row of clinical-references.md is here; ``test_every_policy_line_is_mapped`` reads the
#: file when it is present and fails on a line nobody mapped.
POLICY: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("G17", "The level is the highest among the rules", [("engine", "highest-fired-rule")]),
    (
        "G17",
        "Features of one concern do not stack",
        [
            ("engine", "no-stacking"),
            ("red_flags", "RF-KIDNEY-INFECTION"),
            ("red_flags", "RF-CANCER-HISTORY"),
        ],
    ),
    (
        "G17",
        "Emergency by combination only where a rule names",
        [
            ("engine", "combination-by-rule"),
            ("red_flags", "RF-INF-RISK"),
            ("red_flags", "RF-INF-NEURO-WEAK"),
            ("red_flags", "RF-CANCER-NEURO-RADIATING"),
            ("red_flags", "RF-SEPSIS"),
            ("red_flags", "RF-CLOT-RISK"),
        ],
    ),
    ("G1", "difficulty starting to pass urine, a weak or", [("red_flags", "RF-CES-BLADDER")]),
    (
        "G1",
        "loss of bladder or bowel control, leaking without",
        [("red_flags", "RF-CES-INCONTINENCE")],
    ),
    (
        "G1",
        "numbness or pins and needles around the anus",
        [("red_flags", "RF-CES-SADDLE"), ("questions", "saddle_numbness")],
    ),
    (
        "G1",
        "new loss of genital sensation, or new erection",
        [("red_flags", "RF-CES-SEXUAL"), ("questions", "sexual_problem")],
    ),
    ("G1", "sciatica in both legs, or one-sided sciatica", [("red_flags", "RF-CES-BILATERAL")]),
    (
        "G1",
        "severe or progressive weakness or numbness in BOTH",
        [("red_flags", "RF-CES-WEAK-BOTH"), ("questions", "leg_weakness_side")],
    ),
    (
        "G1",
        "Not CES: constipation alone (often from codeine)",
        [
            ("causes", "constipation"),
            ("advice", "AD-SC-CONSTIPATION"),
            ("red_flags", "RF-CONSTIPATION-UNCHECKED"),
            ("red_flags", "RF-CONSTIPATION-VOMIT"),
            ("red_flags", "RF-SCIATICA-BOTH-OLD"),
        ],
    ),
    (
        "G11",
        "new numbness or weakness in both arms, or",
        [
            ("causes", "spinal_cord_compression"),
            ("red_flags", "RF-ARMS-BOTH"),
            ("red_flags", "RF-ARM-ONE-WORSE"),
            ("red_flags", "RF-ARM-ONE"),
            ("questions", "arm_symptoms"),
        ],
    ),
    ("G11", "sudden weakness of both legs, with or without", [("red_flags", "RF-CES-WEAK-BOTH")]),
    (
        "G11",
        "new one-sided foot drop or leg weakness",
        [
            ("red_flags", "RF-NUMB-SETTLING"),
            ("red_flags", "RF-NEURO-WEAK-ONE"),
            ("red_flags", "RF-NUMB-WORSENING"),
        ],
    ),
    ("G11", "one-sided sciatica (pain below the knee) without", [("red_flags", "RF-SCIATICA-ONE")]),
    (
        "G2",
        "fever, chills or feeling systemically unwell with back",
        [("red_flags", "RF-INF-FEVER")],
    ),
    ("G2", "fever with back pain plus any risk factor", [("red_flags", "RF-INF-RISK")]),
    (
        "G2",
        "fever with any nerve sign (weakness, numbness, bladder",
        [
            ("red_flags", "RF-INF-NEURO-WEAK"),
            ("red_flags", "RF-INF-NEURO-NUMB"),
            ("red_flags", "RF-INF-NEURO-ARM"),
        ],
    ),
    ("G2", "new back pain without fever in someone who", [("red_flags", "RF-INF-RISK-NOFEVER")]),
    (
        "G2",
        "back pain with fever plus headache, stiff neck",
        [
            ("red_flags", "RF-HEADACHE-NECK"),
            ("red_flags", "RF-MENINGITIS"),
            ("causes", "meningitis"),
        ],
    ),
    (
        "G3",
        "past cancer with new back pain: urgent (GP",
        [
            ("red_flags", "RF-CANCER-HISTORY"),
            ("red_flags", "RF-CANCER-NEURO-WEAK"),
            ("red_flags", "RF-CANCER-NEURO-NUMB"),
            ("red_flags", "RF-CANCER-NEURO-RADIATING"),
            ("red_flags", "RF-CANCER-NEURO-ARM"),
        ],
    ),
    (
        "G3",
        "weaker flags (age over 50 with a new",
        [
            ("red_flags", "RF-AGE-NEW-NO-STRAIN"),
            ("red_flags", "RF-AGE-NEW-NONMECH"),
            ("red_flags", "RF-WEIGHT-LOSS"),
            ("red_flags", "RF-NIGHT-PAIN"),
            ("red_flags", "RF-NONMECH-THORACIC"),
            ("red_flags", "RF-CHRONIC"),
        ],
    ),
    (
        "G3",
        "a weaker flag plus severe pain not controlled",
        [
            ("red_flags", "RF-CANCER-UNCONTROLLED-AGE"),
            ("red_flags", "RF-CANCER-UNCONTROLLED-WEIGHT"),
            ("red_flags", "RF-CANCER-FRACTURE"),
        ],
    ),
    ("G3", "a new lump, swelling or change in the", [("red_flags", "RF-BACK-LUMP")]),
    (
        "G3",
        "new confusion, vomiting and thirst with cancer or",
        [("red_flags", "RF-CONFUSION"), ("causes", "high_calcium")],
    ),
    (
        "G4",
        "major trauma (road accident, fall from height): emergency",
        [("red_flags", "RF-TRAUMA-MAJOR")],
    ),
    (
        "G4",
        "minor fall or heavy lifting in someone with",
        [
            ("red_flags", "RF-FRACTURE-RISK"),
            ("red_flags", "RF-FRACTURE-AGE"),
            ("red_flags", "RF-FRACTURE-FRAGILE-SUDDEN"),
        ],
    ),
    (
        "G4",
        "possible osteoporotic fracture without those risk factors (e.g.",
        [("red_flags", "RF-FRACTURE-POSTMENOPAUSE")],
    ),
    (
        "G4",
        "focal rib pain in a rower or similar",
        [
            ("advice", "AD-SC-STRESS-FRACTURE"),
            ("red_flags", "RF-RIB-STRESS"),
            ("causes", "rib_stress_fracture"),
        ],
    ),
    (
        "G5",
        "sudden severe back or abdominal pain, especially over",
        [
            ("red_flags", "RF-AORTA-PULSING-SEVERE"),
            ("red_flags", "RF-AORTA-FAINT"),
            ("red_flags", "RF-AORTA-CLAMMY"),
            ("red_flags", "RF-AORTA-NONMECH-OLDER"),
        ],
    ),
    (
        "G5",
        "sudden severe tearing pain in the chest or",
        [("red_flags", "RF-AORTA-NONMECH-UPPER"), ("questions", "position_effect")],
    ),
    ("G5", "first-ever kidney stone pain at 60 or", [("red_flags", "RF-RENAL-COLIC-OVER60")]),
    ("G5", "new constant back or abdominal pain with a", [("red_flags", "RF-AORTA-KNOWN")]),
    (
        "G5",
        "new non-mechanical pain between the shoulder blades",
        [
            ("red_flags", "RF-AORTA-NONMECH-60"),
            ("red_flags", "RF-AORTA-NONMECH-RISK"),
            ("red_flags", "RF-AORTA-PULSING"),
        ],
    ),
    (
        "G6",
        "rib or upper back pain with chest tightness",
        [
            ("red_flags", "RF-CHEST-CARDIAC"),
            ("red_flags", "RF-CHEST-PLEURITIC"),
            ("red_flags", "RF-CHEST-AUTONOMIC"),
        ],
    ),
    (
        "G6",
        "pain on exertion eased by rest (chest, back",
        [
            ("causes", "cardiac_ischaemia"),
            ("red_flags", "RF-EXERTION-RECENT"),
            ("red_flags", "RF-EXERTION-DAYS"),
            ("red_flags", "RF-EXERTION-STABLE"),
            ("questions", "exertion_pain"),
        ],
    ),
    (
        "G6",
        "sharp pain on breathing in plus a clot",
        [
            ("causes", "pulmonary_embolism"),
            ("red_flags", "RF-CLOT-RISK"),
            ("red_flags", "RF-CLOT-PREGNANT"),
            ("red_flags", "RF-CLOT-CANCER"),
            ("questions", "clot_risk"),
        ],
    ),
    (
        "G6",
        "new unexplained pain on breathing in, without injury",
        [("causes", "chest_infection"), ("red_flags", "RF-BREATHING-UNEXPLAINED")],
    ),
    (
        "G6",
        "seemingly chest-wall pain with diabetes, breathlessness, or",
        [
            ("red_flags", "RF-CHESTWALL-DIABETES"),
            ("red_flags", "RF-CHESTWALL-SMOKER"),
            ("red_flags", "RF-CHEST-CARDIAC"),
        ],
    ),
    (
        "S1",
        "S1: sudden, extreme rib pain that stops all",
        [("red_flags", "RF-RIB-SUDDEN-EXTREME"), ("red_flags", "RF-RIB-BAND")],
    ),
    (
        "G7",
        "severe colicky flank (loin) pain spreading to the",
        [
            ("red_flags", "RF-RENAL-COLIC"),
            ("red_flags", "RF-RENAL-COLIC-FEVER"),
            ("red_flags", "RF-RENAL-COLIC-VOMIT"),
            ("red_flags", "RF-RENAL-COLIC-UNCONTROLLED"),
            ("red_flags", "RF-RENAL-COLIC-SINGLE"),
            ("red_flags", "RF-RENAL-COLIC-PREGNANT"),
        ],
    ),
    (
        "G7",
        "flank pain with fever, or with painful or",
        [
            ("red_flags", "RF-KIDNEY-FLANK-FEVER"),
            ("red_flags", "RF-KIDNEY-INFECTION"),
            ("red_flags", "RF-URINE-PAIN"),
        ],
    ),
    (
        "G7",
        "fever with a sepsis sign (new confusion, drowsiness",
        [
            ("red_flags", "RF-MOTTLED"),
            ("red_flags", "RF-UNWELL"),
            ("red_flags", "RF-KIDNEY-VOMIT"),
            ("red_flags", "RF-SEPSIS"),
            ("red_flags", "RF-SEPSIS-VOMIT"),
            ("questions", "unwell_signs"),
            ("causes", "sepsis"),
        ],
    ),
    (
        "G7",
        "fever with loin pain in pregnancy: emergency, maternity",
        [("red_flags", "RF-KIDNEY-PREGNANT-FLANK"), ("red_flags", "RF-KIDNEY-PREGNANT-URINE")],
    ),
    (
        "G12",
        "one-sided band of burning, stabbing or tingling",
        [
            ("advice", "AD-SC-SHINGLES"),
            ("red_flags", "RF-SHINGLES-RASH"),
            ("red_flags", "RF-SHINGLES-IMMUNE"),
            ("questions", "rash"),
            ("causes", "shingles"),
        ],
    ),
    ("G12", "the same band pain without a rash: soon", [("red_flags", "RF-RIB-BAND")]),
    (
        "G13",
        "muscle pain with dark (tea or cola coloured)",
        [
            ("red_flags", "RF-DARK-URINE"),
            ("red_flags", "RF-DARK-URINE-WEAK"),
            ("red_flags", "RF-DARK-URINE-LEGS"),
            ("red_flags", "RF-DARK-URINE-KIDNEY"),
            ("red_flags", "RF-DARK-URINE-UNWELL"),
            ("causes", "rhabdomyolysis"),
        ],
    ),
    (
        "G13",
        "new weakness (stairs, rising from a chair) on",
        [
            ("red_flags", "RF-WEAK-ALL-OVER"),
            ("red_flags", "RF-WEAK-ALL-OVER-HEART"),
            ("red_flags", "RF-WEAK-ALL-OVER-FAINT"),
            ("questions", "general_weakness"),
        ],
    ),
    (
        "G13",
        "cramps with spreading tingling, twitching, palpitations or light-headedness",
        [
            ("red_flags", "RF-PPI-SIGNS"),
            ("red_flags", "RF-PPI-TINGLE"),
            ("red_flags", "RF-PPI-FAINT"),
        ],
    ),
    (
        "G13",
        "tolerable aches or cramps on a statin, or",
        [("red_flags", "RF-MEDICINE-CRAMPS"), ("services", "medicine_review")],
    ),
    (
        "G13",
        "exercise or heat cramps, or post-exercise soreness",
        [
            ("red_flags", "RF-HEAT-FAINT"),
            ("red_flags", "RF-HEAT-HEART"),
            ("red_flags", "RF-CONFUSION"),
            ("causes", "heat_illness"),
            ("advice", "AD-SC-HEAT-COOL"),
        ],
    ),
    ("G8", "back pain over 3 months, starting before 45", [("red_flags", "RF-INFLAMMATORY")]),
    (
        "G9",
        "regular tightenings, period-type pain or unusual backache",
        [
            ("red_flags", "RF-LABOUR-PRETERM"),
            ("red_flags", "RF-LABOUR-UNKNOWN-WEEKS"),
            ("red_flags", "RF-PREG-BACKACHE-NONMECH"),
            ("red_flags", "RF-PREG-BACKACHE-NONMECH-UNKNOWN-WEEKS"),
        ],
    ),
    (
        "G9",
        "the same from 37 weeks (possible labour at",
        [
            ("red_flags", "RF-LABOUR"),
            ("red_flags", "RF-LABOUR-FEVER"),
            ("services", "maternity_triage"),
        ],
    ),
    (
        "G9",
        "back pain with vaginal bleeding or a gush",
        [
            ("red_flags", "RF-PREG-BLEEDING"),
            ("red_flags", "RF-PREG-MOVEMENTS"),
            ("questions", "baby_moving_less"),
        ],
    ),
    (
        "G9",
        "after 20 weeks, severe pain just below the",
        [
            ("red_flags", "RF-PREG-SIGNS-EARLY"),
            ("red_flags", "RF-PREECLAMPSIA"),
            ("red_flags", "RF-PREECLAMPSIA-UNKNOWN-WEEKS"),
            ("questions", "preeclampsia_signs"),
            ("causes", "pre_eclampsia"),
        ],
    ),
    (
        "G9",
        "pain passing urine without fever: urgent (GP or",
        [
            ("causes", "urine_infection"),
            ("advice", "AD-SC-CYSTITIS"),
            ("red_flags", "RF-URINE-PAIN-PREGNANT"),
        ],
    ),
    (
        "G9",
        "pelvic girdle pain (worse on stairs or turning",
        [
            ("advice", "AD-SC-PGP"),
            ("red_flags", "RF-PELVIC-GIRDLE"),
            ("questions", "pelvic_girdle"),
            ("causes", "pelvic_girdle_pain"),
        ],
    ),
    (
        "G9",
        "ordinary pregnancy backache without these signs: selfcare (posture",
        [("red_flags", "RF-PERSISTING"), ("causes", "pregnancy_back_pain")],
    ),
    (
        "G14",
        "period pain spreading to the lower back, usual",
        [("red_flags", "RF-RECURRING"), ("causes", "menstrual_cramps")],
    ),
    (
        "G14",
        "worsening period pain, heavy periods, bleeding between periods",
        [
            ("advice", "AD-SC-ENDO-DIARY"),
            ("red_flags", "RF-PERIOD-CHANGE"),
            ("red_flags", "RF-PERIOD-DISABLING"),
            ("questions", "period_features"),
            ("causes", "endometriosis"),
        ],
    ),
    (
        "G15",
        "the pain is mechanical: it changes with movement",
        [
            ("questions", "position_effect"),
            ("red_flags", "RF-AGE-NEW-NONMECH"),
            ("causes", "nonspecific_back_pain"),
        ],
    ),
    (
        "G15",
        "it is improving, even if severe at first",
        [("red_flags", "RF-DISABLING"), ("red_flags", "RF-PERSISTING")],
    ),
    ("G15", "no red flag is present; numbness in a", [("red_flags", "RF-RIB-BAND")]),
    (
        "G15",
        "a long-standing problem already assessed by a clinician",
        [("questions", "usual_flare"), ("red_flags", "RF-RECURRING"), ("red_flags", "RF-CHRONIC")],
    ),
    (
        "G15",
        "an exercise stitch or cramp that settles with",
        [
            ("advice", "AD-SC-STITCH"),
            ("causes", "exercise_stitch"),
            ("red_flags", "RF-BREATHING-UNEXPLAINED"),
            ("questions", "injury"),
        ],
    ),
    (
        "G15",
        "worse despite self-care, or stopping daily activities and",
        [
            ("red_flags", "RF-WORSENING"),
            ("red_flags", "RF-WORSENING-SELFCARE-FAILED"),
            ("red_flags", "RF-DISABLING"),
        ],
    ),
    (
        "G15",
        "no better at all after 1 week of",
        [
            ("red_flags", "RF-PERSISTING"),
            ("red_flags", "RF-PERSISTING-RIBS"),
            ("red_flags", "RF-SELFCARE-FAILED"),
        ],
    ),
    ("G15", "improving but not settled by 4 weeks (no", [("red_flags", "RF-CHRONIC")]),
    (
        "G15",
        "long-standing or recurring pain never assessed, or a",
        [("red_flags", "RF-RECURRING")],
    ),
    (
        "G10",
        "Name the emergency signs in plain words. Book",
        [
            ("advice", "AD-SAFETY-WORSE"),
            ("advice", "AD-SAFETY-NOT-IMPROVING"),
            ("advice", "AD-SC-STAY-ACTIVE"),
        ],
    ),
    (
        "S4",
        "S4 severe, persisting after conservative treatment, or worse",
        [("red_flags", "RF-SELFCARE-FAILED"), ("red_flags", "RF-WORSENING")],
    ),
    (
        "S4",
        "S4 urinary list: difficulty passing urine or incontinence",
        [
            ("red_flags", "RF-CES-BLADDER"),
            ("red_flags", "RF-URINE-PAIN"),
            ("red_flags", "RF-BLOOD-URINE"),
            ("red_flags", "RF-BLOOD-STOOL"),
        ],
    ),
    (
        "S4",
        "S4 after an accident or sporting mishap, get",
        [("red_flags", "RF-TRAUMA-MAJOR"), ("red_flags", "RF-FRACTURE-RISK")],
    ),
    (
        "G16",
        "emergency | 999 for collapse, fainting",
        [
            ("advice", "AD-CA-WHILE-WAITING"),
            ("services", "emergency_services"),
            ("services", "emergency_department"),
            ("services", "maternity_unit"),
            ("services", "acute_oncology_now"),
        ],
    ),
    (
        "G16",
        "urgent | same-day GP appointment; if closed, NHS",
        [
            ("services", "same_day_gp"),
            ("services", "pharmacist_today"),
            ("services", "maternity_triage"),
            ("services", "acute_oncology"),
        ],
    ),
    (
        "G16",
        "soon | the GP within days to two weeks",
        [
            ("services", "gp"),
            ("services", "physiotherapist"),
            ("services", "midwife"),
            ("services", "medicine_review"),
        ],
    ),
    ("G16", "selfcare | home; a pharmacist for painkiller choice and", [("services", "home")]),
]


def _case_id(entry: tuple[str, str, str, str]) -> str:
    source, item, table, row_id = entry
    return f"{source}-{table}-{row_id}-{re.sub(r'[^a-z0-9]+', '-', item.lower()).strip('-')[:40]}"


@pytest.mark.parametrize("source,item,table,row_id", COVERAGE, ids=[_case_id(e) for e in COVERAGE])
def test_item_from_the_sources_is_in_the_knowledge_base(source, item, table, row_id):
    rows = TABLES[table]
    assert row_id in rows, f"{source} names {item!r}, but {table} has no row {row_id!r}"
    assert source in rows[row_id], (
        f"{table} row {row_id} covers {item!r} but does not cite {source}"
    )


def _mapped(table: str) -> set[str]:
    """Rows of one table that the article items or the policy lines name."""
    from_policy = {row for _, _, rows in POLICY for t, row in rows if t == table}
    return {row for _, _, t, row in COVERAGE if t == table} | from_policy


def test_coverage_table_names_every_source_and_every_cause():
    """The tables themselves are complete: every source and every cause appears in them."""
    assert {source for source, *_ in COVERAGE} | {source for source, *_ in POLICY} == set(
        KB.sources
    )
    assert _mapped("causes") == set(KB.causes)


def test_every_advice_row_traces_to_an_item_of_the_sources():
    """The other direction: no advice row exists that no source item asks for."""
    assert [a.id for a in KB.advice if a.id not in _mapped("advice")] == []


def test_every_red_flag_rule_and_service_traces_to_a_source_item_or_a_policy_line():
    """No rule or service exists that neither an article nor the policy asks for."""
    assert [r.id for r in KB.red_flags if r.id not in _mapped("red_flags")] == []
    assert [sid for sid in KB.services if sid not in _mapped("services")] == []


def _policy_key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower())[:8])


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _is_mapped(line: str) -> bool:
    """A policy line is mapped when some POLICY entry's words begin it (at least five words)."""
    words = _words(line)
    return any(
        len(_words(entry)) >= 5 and words[: len(_words(entry))] == _words(entry)
        for _, entry, _ in POLICY
    )


@pytest.mark.parametrize(
    "source,line,rows", POLICY, ids=[f"{s}-{_policy_key(text)}" for s, text, _ in POLICY]
)
def test_policy_line_is_carried_by_rows_that_exist_and_cite_it(source, line, rows):
    for table, row_id in rows:
        assert row_id in TABLES[table], f"policy line {line!r}: {table} has no row {row_id!r}"
    assert any(source in TABLES[table][row_id] for table, row_id in rows), (
        f"no row carrying {line!r} cites {source}"
    )


def policy_lines(text: str) -> list[str]:
    """Every bullet of the policy's own sections, and every row of its 'Where to go' table."""
    lines, section = [], ""
    for raw in text.splitlines():
        if raw.startswith("## "):
            section = raw[3:].strip()
            continue
        if section.startswith(POLICY_SKIP_SECTIONS) or not section:
            continue
        if raw.startswith("- "):
            lines.append(raw[2:])
        elif (
            section.startswith("Where to go")
            and raw.startswith("| ")
            and not raw.startswith("| level")
        ):
            lines.append(raw[2:])
    return lines


def test_every_policy_line_is_mapped():
    """Nothing in clinical-references.md is silently left out (it sits beside the repository)."""
    if not POLICY_FILE.exists():
        pytest.skip(f"{POLICY_FILE} is not here; CI and the development machine have it")
    missing = [
        line
        for line in policy_lines(POLICY_FILE.read_text(encoding="utf-8"))
        if not _is_mapped(line)
    ]
    assert missing == [], "policy lines with no rule mapped to them"


def test_policy_line_parser_sees_bullets_and_where_to_go_rows():
    text = (
        "## Levels\n- skipped\n## Fracture\n- major trauma: emergency\n## Where to go (new)\n"
        "| level | where |\n| urgent | same-day GP |\n## What the best triage tools do\n- no\n"
    )
    assert policy_lines(text) == ["major trauma: emergency", "urgent | same-day GP |"]


def test_every_source_is_cited_by_some_row():

    cited = {sid for rows in TABLES.values() for sources in rows.values() for sid in sources}
    assert set(KB.sources) - cited == set()


def test_every_article_backs_red_flags_causes_and_advice():
    """Each article contributes to more than one table: it was read, not just listed."""
    for source in ("S1", "S2", "S3", "S4"):
        for table in ("causes", "cause_evidence", "advice"):
            assert any(source in s for s in TABLES[table].values()), (source, table)


# ----------------------------------------------------------------- causes and their evidence


@pytest.mark.parametrize("cause", list(KB.causes))
def test_every_cause_has_positive_evidence_that_can_show_it(cause):
    positive = [e for e in KB.cause_evidence if e.cause == cause and e.weight > 0]
    assert positive, f"{cause} has no evidence row with a positive weight"
    assert sum(e.weight for e in positive) >= MIN_CAUSE_SCORE


@pytest.mark.parametrize("cause", list(KB.causes))
def test_every_cause_has_some_advice(cause):
    assert any(cause in a.applies_to for a in KB.advice), f"no advice row applies to {cause}"


def test_cause_summaries_never_diagnose():
    """Summaries say what can happen ("can", "may"), never "you have"."""
    for cause in KB.causes.values():
        text = cause.summary.lower()
        assert "you have" not in text and "you are suffering" not in text, cause.id
        assert re.search(r"\b(can|may|often|commonly|usually)\b", text), cause.id


BASE = {"age": 35, "duration_days": 1, "severity": 5}
#: Typical presentations: (cause expected first, answers on top of BASE).
TYPICAL: list[tuple[str, dict]] = [
    (
        "intercostal_strain",
        {
            "location": ["ribs"],
            "worse_with": ["breathing"],
            "activity": ["hard_exercise"],
            "onset": "sudden",
            "pain_quality": ["cramping"],
        },
    ),
    ("bruised_ribs", {"location": ["ribs"], "injury": "chest_blow", "worse_with": ["breathing"]}),
    (
        "displaced_rib",
        {
            "location": ["ribs"],
            "injury": "minor_fall",
            "rib_numbness": "yes",
            "pain_quality": ["cramping"],
        },
    ),
    (
        "muscle_strain",
        {
            "location": ["lower_back"],
            "injury": "lifting",
            "onset": "sudden",
            "pain_quality": ["cramping"],
        },
    ),
    (
        "posture_lifting",
        {
            "location": ["lower_back"],
            "activity": ["long_sitting", "poor_shoes"],
            "worse_with": ["sitting"],
        },
    ),
    ("exertion_overuse", {"location": ["upper_back"], "activity": ["hard_exercise"]}),
    (
        "dehydration",
        {
            "location": ["lower_back"],
            "diet": ["low_fluids", "heavy_sweating"],
            "activity": ["hard_exercise"],
            "other_features": ["cramps_elsewhere"],
        },
    ),
    (
        "mineral_deficiency",
        {"location": ["ribs"], "diet": ["low_minerals"], "other_features": ["cramps_elsewhere"]},
    ),
    (
        "muscle_weakness",
        {"location": ["lower_back"], "other_features": ["inactive"], "recurring": "yes"},
    ),
    (
        "stress_tension",
        {"location": ["upper_back"], "other_features": ["stress"], "pain_quality": ["cramping"]},
    ),
    ("sciatica", {"location": ["lower_back"], "radiates": "one_leg", "leg_symptoms_new": "yes"}),
    (
        "disc_herniation",
        {"location": ["lower_back"], "radiates": "one_leg", "known_condition": ["disc"]},
    ),
    (
        "thoracic_disc_herniation",
        {
            "location": ["ribs", "upper_back"],
            "known_condition": ["disc"],
            "pain_quality": ["burning"],
            "rib_numbness": "yes",
        },
    ),
    (
        "thoracic_osteoarthritis",
        {
            "location": ["upper_back", "ribs"],
            "known_condition": ["arthritis"],
            "age": 66,
            "onset": "gradual",
        },
    ),
    (
        "facet_osteoarthritis",
        {
            "location": ["lower_back"],
            "known_condition": ["arthritis"],
            "worse_with": ["leaning_back"],
            "age": 66,
            "onset": "gradual",
        },
    ),
    (
        "degenerative_disc_disease",
        {
            "location": ["lower_back"],
            "known_condition": ["degenerative_disc"],
            "age": 50,
            "recurring": "yes",
        },
    ),
    (
        "spinal_stenosis",
        {
            "location": ["lower_back"],
            "known_condition": ["stenosis"],
            "worse_with": ["standing_walking"],
            "age": 70,
            "duration_days": 400,
        },
    ),
    (
        "nerve_damage",
        {
            "location": ["lower_back"],
            "known_condition": ["nerve_condition"],
            "pain_quality": ["burning"],
        },
    ),
    (
        "nerve_damage",
        {
            "location": ["ribs", "upper_back"],
            "history": ["spine_surgery"],
            "recurring": "yes",
            "pain_quality": ["cramping"],
            "severity": 8,
        },
    ),
    ("spondylolisthesis", {"location": ["lower_back"], "known_condition": ["spondylolisthesis"]}),
    ("scoliosis", {"location": ["lower_back"], "other_features": ["spine_curve"]}),
    (
        "kidney_stones",
        {
            "location": ["flank"],
            "groin_waves": "yes",
            "blood_urine": "yes",
            "pain_quality": ["waves"],
        },
    ),
    ("kidney_infection", {"location": ["flank"], "fever": "yes", "urine_pain": "yes"}),
    (
        "kidney_infection",
        {
            "location": ["lower_back"],
            "fever": "yes",
            "urine_pain": "yes",
            "history": ["recent_infection"],
        },
    ),
    (
        "medication_side_effect",
        {
            "location": ["lower_back"],
            "medicines": ["statin"],
            "other_features": ["cramps_elsewhere"],
            "age": 62,
        },
    ),
    (
        "menstrual_cramps",
        {
            "location": ["lower_back"],
            "sex": "female",
            "period_now": "yes",
            "pain_quality": ["cramping"],
        },
    ),
    (
        "labour",
        {
            "location": ["lower_back"],
            "sex": "female",
            "pregnant": "yes",
            "rhythmic": "yes",
            "pregnancy_weeks": 38,
        },
    ),
    (
        "pregnancy_back_pain",
        {"location": ["lower_back"], "sex": "female", "pregnant": "yes", "rhythmic": "no"},
    ),
    ("diabetes", {"location": ["lower_back"], "other_features": ["thirst_tired"]}),
    ("diabetes", {"location": ["lower_back"], "history": ["diabetes"]}),
    (
        "b12_deficiency",
        {"location": ["lower_back"], "diet": ["vegan"], "other_features": ["hands_feet_tingling"]},
    ),
    ("b12_deficiency", {"location": ["lower_back"], "known_condition": ["b12_low"]}),
    ("b12_deficiency", {"location": ["lower_back"], "other_features": ["hands_feet_tingling"]}),
    (
        "food_poisoning",
        {
            "location": ["lower_back"],
            "vomiting": "some",
            "onset": "sudden",
            "other_features": ["suspect_food", "cramps_elsewhere"],
        },
    ),
    ("food_poisoning", {"location": ["lower_back"], "vomiting": "some", "onset": "sudden"}),
    (
        "cauda_equina_syndrome",
        {
            "location": ["lower_back"],
            "saddle_numbness": "yes",
            "bladder_trouble": "yes",
            "radiates": "both_legs",
        },
    ),
    ("cauda_equina_syndrome", {"location": ["lower_back"], "incontinence": "yes"}),
    (
        "spinal_infection",
        {"location": ["lower_back"], "fever": "yes", "history": ["injects_drugs"]},
    ),
    ("spinal_infection", {"location": ["lower_back"], "fever": "yes", "history": ["diabetes"]}),
    ("spinal_cancer", {"location": ["upper_back"], "history": ["cancer"], "age": 64}),
    (
        "spinal_cancer",
        {"location": ["lower_back"], "weight_loss": "yes", "worse_with": ["night"], "age": 60},
    ),
    (
        "aortic_aneurysm",
        {
            "location": ["lower_back"],
            "belly_pulsing": "yes",
            "onset": "sudden",
            "severity": 9,
            "age": 70,
            "history": ["smoker"],
        },
    ),
    (
        "aortic_aneurysm",
        {"location": ["lower_back"], "onset": "sudden", "severity": 9, "faint": "yes", "age": 70},
    ),
    (
        "heart_or_lung",
        {
            "location": ["upper_back", "ribs"],
            "chest_symptoms": ["tightness", "sweating"],
            "age": 58,
        },
    ),
    (
        "heart_or_lung",
        {"location": ["ribs"], "chest_symptoms": ["sharp_breath"], "worse_with": ["breathing"]},
    ),
    (
        "axial_spondyloarthritis",
        {
            "location": ["lower_back", "buttock"],
            "morning_stiffness": "yes",
            "age": 28,
            "duration_days": 200,
            "recurring": "yes",
        },
    ),
    (
        "compression_fracture",
        {
            "location": ["lower_back"],
            "history": ["osteoporosis"],
            "injury": "lifting",
            "age": 72,
            "onset": "sudden",
            "severity": 8,
        },
    ),
    (
        "compression_fracture",
        {"location": ["upper_back"], "history": ["steroids"], "injury": "minor_fall"},
    ),
    (
        "compression_fracture",
        {
            "location": ["upper_back", "ribs"],
            "known_condition": ["vertebral_fracture"],
            "pain_quality": ["cramping"],
        },
    ),
    ("compression_fracture", {"location": ["lower_back"], "injury": "major"}),
    (
        "nonspecific_back_pain",
        {
            "location": ["lower_back"],
            "recurring": "yes",
            "usual_flare": "usual",
            "position_effect": "changes",
        },
    ),
    (
        "pulmonary_embolism",
        {
            "location": ["ribs"],
            "worse_with": ["breathing"],
            "clot_risk": ["recent_birth"],
            "pain_quality": ["sharp"],
        },
    ),
    ("cardiac_ischaemia", {"location": ["upper_back"], "exertion_pain": "recent", "age": 62}),
    (
        "chest_infection",
        {"location": ["ribs"], "fever": "yes", "worse_with": ["breathing", "cough_sneeze"]},
    ),
    (
        "rhabdomyolysis",
        {"location": ["lower_back"], "dark_urine": "yes", "activity": ["hard_exercise"]},
    ),
    (
        "heat_illness",
        {
            "location": ["lower_back"],
            "diet": ["heavy_sweating"],
            "faint": "yes",
            "vomiting": "some",
        },
    ),
    (
        "exercise_stitch",
        {
            "location": ["flank"],
            "activity": ["hard_exercise"],
            "pain_quality": ["sharp"],
            "course": "better",
            "duration_days": 0,
        },
    ),
    (
        "rib_stress_fracture",
        {
            "location": ["ribs"],
            "activity": ["hard_exercise"],
            "onset": "gradual",
            "duration_days": 21,
        },
    ),
    ("shingles", {"location": ["ribs"], "rash": "yes", "pain_quality": ["burning"]}),
    ("spinal_cord_compression", {"location": ["upper_back"], "arm_symptoms": "both_arms"}),
    (
        "sepsis",
        {"location": ["flank"], "fever": "yes", "unwell_signs": ["confused", "racing_heart"]},
    ),
    ("meningitis", {"location": ["upper_back"], "fever": "yes", "unwell_signs": ["headache_neck"]}),
    (
        "high_calcium",
        {
            "location": ["lower_back"],
            "history": ["cancer"],
            "unwell_signs": ["confused"],
            "other_features": ["thirst_tired"],
            "age": 70,
        },
    ),
    ("urine_infection", {"location": ["lower_back"], "urine_pain": "yes", "fever": "no"}),
    (
        "constipation",
        {"location": ["lower_back"], "bowel_difficulty": "yes", "medicines": ["codeine"]},
    ),
    (
        "endometriosis",
        {
            "location": ["lower_back"],
            "sex": "female",
            "period_now": "yes",
            "period_features": ["worse", "sex_pain"],
        },
    ),
    (
        "pelvic_girdle_pain",
        {"location": ["lower_back"], "sex": "female", "pregnant": "yes", "pelvic_girdle": "yes"},
    ),
    (
        "pre_eclampsia",
        {
            "location": ["ribs"],
            "sex": "female",
            "pregnant": "yes",
            "pregnancy_weeks": 34,
            "preeclampsia_signs": ["upper_pain", "headache"],
        },
    ),
]


def _typical_id(case: tuple[str, dict]) -> str:
    cause, answers = case
    return cause + "-" + "-".join(k for k in answers if k not in ("location", "age", "sex"))[:50]


@pytest.mark.parametrize("cause,answers", TYPICAL, ids=[_typical_id(c) for c in TYPICAL])
def test_typical_presentation_ranks_its_cause_first(cause, answers):
    result = triage({**BASE, **answers})
    ranked = [c.cause_id for c in result.causes]
    assert ranked and ranked[0] == cause, f"expected {cause} first, got {ranked}"


def test_every_cause_has_a_typical_presentation():
    assert {cause for cause, _ in TYPICAL} == set(KB.causes)


def test_no_answers_beyond_the_required_show_only_ordinary_back_pain():
    """Causes are never invented: bare pain with nothing else known shows only the base rate
    (most back pain is ordinary mechanical pain, G15), and bare rib pain shows nothing."""
    assert [c.cause_id for c in triage({**BASE, "location": ["lower_back"]}).causes] == [
        "nonspecific_back_pain"
    ]
    assert triage({**BASE, "location": ["ribs"]}).causes == ()


# ----------------------------------------------------------------- cautions withhold unsafe advice

STRAIN = {
    **BASE,
    "location": ["lower_back"],
    "injury": "lifting",
    "onset": "sudden",
    "pain_quality": ["cramping"],
}


def _shown_and_withheld(answers: dict) -> tuple[set[str], dict[str, str]]:
    result = triage(answers)
    return {a.id for a in result.advice}, {w.id: w.why for w in result.withheld}


def test_anti_inflammatories_are_offered_when_nothing_argues_against():
    shown, withheld = _shown_and_withheld(STRAIN)
    assert "AD-TX-NSAID" in shown and "AD-TX-NSAID" not in withheld


@pytest.mark.parametrize(
    "extra",
    [
        {"history": ["kidney_disease"]},
        {"history": ["stomach_ulcer"]},
        {"history": ["blood_thinners"]},
        {"sex": "female", "pregnant": "yes"},
        {"sex": "female", "pregnant": "unsure"},
    ],
    ids=["kidney-disease", "stomach-ulcer", "blood-thinners", "pregnant", "maybe-pregnant"],
)
def test_anti_inflammatories_are_withheld_with_a_reason(extra):
    shown, withheld = _shown_and_withheld({**STRAIN, **extra})
    assert "AD-TX-NSAID" not in shown
    assert "kidneys" in withheld["AD-TX-NSAID"] and "pregnancy" in withheld["AD-TX-NSAID"]


def test_spinal_manipulation_is_withheld_with_spinal_arthritis():
    chronic = {
        **BASE,
        "location": ["lower_back"],
        "known_condition": ["arthritis"],
        "duration_days": 120,
        "worse_with": ["leaning_back"],
    }
    shown, withheld = _shown_and_withheld(chronic)
    assert "AD-TX-CHIRO" not in shown and "arthritis" in withheld["AD-TX-CHIRO"]
    shown, withheld = _shown_and_withheld({**chronic, "known_condition": ["disc"]})
    assert "AD-TX-CHIRO" in shown


def test_minerals_and_potassium_are_withheld_with_kidney_disease():
    cramps = {
        **BASE,
        "location": ["ribs"],
        "diet": ["low_minerals"],
        "other_features": ["cramps_elsewhere"],
    }
    shown, _ = _shown_and_withheld(cramps)
    assert {"AD-SC-MINERALS", "AD-SC-BANANAS"} <= shown
    shown, withheld = _shown_and_withheld({**cramps, "history": ["kidney_disease"]})
    assert not {"AD-SC-MINERALS", "AD-SC-BANANAS"} & shown
    assert "kidney" in withheld["AD-SC-MINERALS"] and "kidney" in withheld["AD-SC-BANANAS"]


def test_stretching_and_massage_are_withheld_when_a_spinal_fracture_is_possible():
    fragile = {**STRAIN, "history": ["osteoporosis"], "age": 72}
    shown, withheld = _shown_and_withheld(fragile)
    for row in ("AD-SC-STRETCH-CRAMP", "AD-SC-MASSAGE", "AD-SC-STAY-ACTIVE"):
        assert row not in shown and "bone" in withheld[row], row
    shown, _ = _shown_and_withheld(STRAIN)
    assert {"AD-SC-STRETCH-CRAMP", "AD-SC-MASSAGE", "AD-SC-STAY-ACTIVE"} <= shown


def test_cold_compress_says_how_long_and_how_often():
    cold = next(a for a in KB.advice if a.id == "AD-SC-COLD")
    assert "12 to 15 minutes" in cold.text and "two hours" in cold.text


def test_safety_net_covers_not_improving_worse_recurring_and_warning_signs():
    nets = {
        a.id
        for a in KB.advice
        if a.kind == "safetynet" and a.applies_to == ("*",) and not a.when.atoms
    }
    assert {
        "AD-SAFETY-NOT-IMPROVING",
        "AD-SAFETY-GETTING-WORSE",
        "AD-SAFETY-RECURRING",
        "AD-SAFETY-WORSE",
    } <= nets


# ----------------------------------------------------------------- paraphrase, not copy


def words(text: str) -> list[str]:
    """Lower-case words; apostrophes dropped so "don't" and "don’t" compare equal."""
    return re.findall(r"[a-z0-9]+", re.sub(r"['’‘]", "", text.lower()))


def fingerprint(run: list[str]) -> str:
    return hashlib.blake2b(" ".join(run).encode(), digest_size=5).hexdigest()


def runs(text: str, n: int = RUN_LENGTH):
    w = words(text)
    for i in range(len(w) - n + 1):
        yield w[i : i + n]


def article_fingerprints(seeds: Path) -> list[str]:
    """Sorted hashes of every RUN_LENGTH-word run in the four articles."""
    return sorted(
        {
            fingerprint(r)
            for name in ARTICLE_FILES.values()
            for r in runs((seeds / name).read_text(encoding="utf-8"))
        }
    )


def stored_fingerprints() -> frozenset[str]:
    lines = FINGERPRINTS.read_text(encoding="ascii").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def test_fingerprint_file_is_not_empty():
    assert len(stored_fingerprints()) > 3000  # the four articles hold about 4,400 words


def test_stored_fingerprints_match_the_articles():
    if not all((SEEDS / name).exists() for name in ARTICLE_FILES.values()):
        pytest.skip(
            f"articles not present at {SEEDS} (set AID_SEEDS_DIR); the stored fingerprints are used"
        )
    assert set(article_fingerprints(SEEDS)) == stored_fingerprints(), (
        "article_fingerprints.txt is stale: run `python tests/unit/test_coverage.py`"
    )


def _knowledge_texts():
    for q in KB.questions.values():
        yield "questions", q.id, " ".join([q.prompt, q.help, *q.option_labels])
    for r in KB.red_flags:
        yield "red_flags", r.id, r.reason + " " + r.clinician_note
    for c in KB.causes.values():
        yield "causes", c.id, " ".join([c.name, c.lay_name, c.summary])
    for e in KB.cause_evidence:
        yield "cause_evidence", e.id, e.explanation
    for a in KB.advice:
        yield "advice", a.id, a.text + " " + a.avoid_reason


def test_no_row_copies_a_run_of_words_from_an_article():
    stored = stored_fingerprints()
    copied = [
        f"{table} {row_id}: '{' '.join(run)}'"
        for table, row_id, text in _knowledge_texts()
        for run in runs(text)
        if fingerprint(run) in stored
    ]
    assert copied == [], (
        f"rows share {RUN_LENGTH}+ words with an article; paraphrase them:\n" + "\n".join(copied)
    )


def test_the_copy_check_would_catch_a_copied_sentence():
    """Guard against a check that cannot fail: a sentence from S4 is recognised."""
    copied = "Drinking water – hydrating help muscles do their job, and a cold compress can help keep inflammation at bay"
    assert any(fingerprint(run) in stored_fingerprints() for run in runs(copied))


if __name__ == "__main__":  # regenerate the fingerprints from the articles
    prints = article_fingerprints(SEEDS)
    FINGERPRINTS.write_text(
        f"# blake2b-40 hashes of every {RUN_LENGTH}-word run in articles S1-S4; "
        "written by `python tests/unit/test_coverage.py`\n" + "\n".join(prints) + "\n",
        encoding="ascii",
    )
    print(f"{len(prints)} fingerprints written to {FINGERPRINTS}")
