"""The worked examples of docs/adr/0005-settlement-exactly-once.md, on the pure split."""

from decimal import Decimal

from claims.split import Grant, PolicyTerms, split_expense

EMPLOYEE_OUTPATIENT = PolicyTerms(
    deductible_fen=180000,
    ratio=Decimal("0.70"),
    ceiling_fen=2000000,
    class_b_self_ratio=Decimal("0.10"),
    current_pocket_allowed=True,
)
EMPLOYEE_INPATIENT = PolicyTerms(
    deductible_fen=130000,
    ratio=Decimal("0.85"),
    ceiling_fen=50000000,
    class_b_self_ratio=Decimal("0.10"),
    current_pocket_allowed=False,
)
RESIDENT_OUTPATIENT = PolicyTerms(
    deductible_fen=10000,
    ratio=Decimal("0.55"),
    ceiling_fen=400000,
    class_b_self_ratio=Decimal("0.10"),
    current_pocket_allowed=True,
)


def rows(split):
    return [(p.payer, p.component, p.amount_fen) for p in split.parts]


def test_example_1_outpatient_first_of_the_year_all_three_classes():
    s = split_expense(
        lines=[("A", 100000), ("B", 200000), ("self", 30000)],
        policy=EMPLOYEE_OUTPATIENT,
        deductible_used_fen=0,
        fund_paid_fen=0,
        current_fen=50000,
        prior_fen=100000,
    )

    assert (s.total_fen, s.fund_fen, s.account_fen, s.cash_fen) == (330000, 70000, 150000, 110000)
    assert (s.deductible_fen, s.self_borne_fen, s.self_funded_fen) == (180000, 230000, 30000)
    assert rows(s) == [
        ("fund", "fund", 70000),
        ("current", "class_b_first", 20000),
        ("current", "deductible", 30000),
        ("prior", "deductible", 100000),
        ("cash", "deductible", 50000),
        ("cash", "copay", 30000),
        ("cash", "self_funded", 30000),
    ]
    assert s.parts[0].reason_params == {"ratio": "70%", "eligible": "1,000.00", "room": "20,000.00"}
    assert s.parts[2].reason_params == {"open": "1,800.00", "deductible": "1,800.00"}


def test_example_2_emergency_near_the_annual_ceiling():
    s = split_expense(
        lines=[("A", 100000)],
        policy=EMPLOYEE_OUTPATIENT,
        deductible_used_fen=180000,
        fund_paid_fen=1980000,
        current_fen=0,
        prior_fen=0,
    )

    assert (s.fund_fen, s.account_fen, s.cash_fen, s.self_borne_fen) == (20000, 0, 80000, 80000)
    assert rows(s) == [
        ("fund", "fund", 20000),
        ("cash", "copay", 30000),
        ("cash", "above_ceiling", 50000),
    ]
    assert s.parts[0].reason_code == "fund_capped"
    assert s.parts[0].reason_params["room"] == "200.00"


def test_example_3_inpatient_never_uses_the_current_year_pocket():
    s = split_expense(
        lines=[("A", 1000000), ("B", 500000)],
        policy=EMPLOYEE_INPATIENT,
        deductible_used_fen=0,
        fund_paid_fen=0,
        current_fen=300000,
        prior_fen=200000,
    )

    assert (s.fund_fen, s.account_fen, s.cash_fen) == (1122000, 200000, 178000)
    assert rows(s) == [
        ("fund", "fund", 1122000),
        ("prior", "class_b_first", 50000),
        ("prior", "deductible", 130000),
        ("prior", "copay", 20000),
        ("cash", "copay", 178000),
    ]
    assert s.self_borne_fen == 50000 + 130000 + 198000


def test_example_4_pharmacy_class_b_and_self_funded_from_the_current_year_pocket():
    s = split_expense(
        lines=[("B", 12000), ("self", 3550)],
        policy=EMPLOYEE_OUTPATIENT,
        deductible_used_fen=180000,
        fund_paid_fen=70000,
        current_fen=10000,
        prior_fen=0,
    )

    assert (s.total_fen, s.fund_fen, s.account_fen, s.cash_fen) == (15550, 7560, 7990, 0)
    assert rows(s) == [
        ("fund", "fund", 7560),
        ("current", "class_b_first", 1200),
        ("current", "copay", 3240),
        ("current", "self_funded", 3550),
    ]


def test_example_5_a_parents_prior_years_pocket_pays_within_its_cap():
    s = split_expense(
        lines=[("A", 50000), ("self", 5000)],
        policy=RESIDENT_OUTPATIENT,
        deductible_used_fen=0,
        fund_paid_fen=0,
        current_fen=0,
        prior_fen=0,
        grants=[Grant(grantor_id=7, available_fen=20000)],
    )

    assert (s.fund_fen, s.account_fen, s.cash_fen) == (22000, 20000, 13000)
    assert [(p.payer, p.component, p.amount_fen, p.grantor_id) for p in s.parts] == [
        ("fund", "fund", 22000, None),
        ("relative_prior", "deductible", 10000, 7),
        ("relative_prior", "copay", 10000, 7),
        ("cash", "copay", 8000, None),
        ("cash", "self_funded", 5000, None),
    ]


def test_rates_round_half_up_to_the_fen():
    # 10% of 0.05 is 0.005: the patient's class B share rounds up to 0.01.
    s = split_expense(
        lines=[("B", 5)],
        policy=EMPLOYEE_OUTPATIENT,
        deductible_used_fen=180000,
        fund_paid_fen=0,
        current_fen=0,
        prior_fen=0,
    )
    # covered 0.04: fund 70% = 0.028 -> 0.03, co-payment 0.01.
    assert rows(s) == [
        ("fund", "fund", 3),
        ("cash", "class_b_first", 1),
        ("cash", "copay", 1),
    ]
