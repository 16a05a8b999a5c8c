"""Order pricing: exact figures for the stated rules, and properties over any input."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.errors import CouponNotApplicable
from orders.pricing import Line, Terms, discount_for, quote

D = Decimal


def test_percent_rounds_half_up_to_the_satang_then_caps():
    # given 15% of 33.30 = 4.995
    # then half up to the satang
    assert discount_for(terms=Terms("percent", D("15")), eligible=D("33.30")) == D("5.00")
    assert discount_for(terms=Terms("percent", D("15")), eligible=D("33.20")) == D("4.98")
    # and a cap applies after rounding
    capped = Terms("percent", D("50"), max_discount=D("40"))
    assert discount_for(terms=capped, eligible=D("399.00")) == D("40.00")


def test_fixed_discount_never_exceeds_the_eligible_lines():
    assert discount_for(terms=Terms("fixed", D("50")), eligible=D("30.00")) == D("30.00")
    assert discount_for(terms=Terms("fixed", D("50")), eligible=D("80.00")) == D("50.00")


def test_coupon_applies_only_to_lines_in_its_scope_and_never_to_shipping():
    lines = [
        Line(product=1, unit_price=D("100.00"), qty=2, eligible=True),
        Line(product=2, unit_price=D("59.50"), qty=1, eligible=False),
    ]
    q = quote(lines=lines, terms=Terms("percent", D("10")), shipping_fee=D("40"))
    assert (q.subtotal, q.discount, q.shipping_fee, q.total) == (
        D("259.50"),
        D("20.00"),
        D("40.00"),
        D("279.50"),
    )


def test_min_spend_counts_the_lines_in_scope_only():
    lines = [
        Line(product=1, unit_price=D("90.00"), qty=1, eligible=True),
        Line(product=2, unit_price=D("500.00"), qty=1, eligible=False),
    ]
    with pytest.raises(CouponNotApplicable):
        quote(lines=lines, terms=Terms("fixed", D("20"), min_spend=D("100")))


def test_a_coupon_with_nothing_in_scope_is_refused():
    lines = [Line(product=2, unit_price=D("10.00"), qty=1, eligible=False)]
    with pytest.raises(CouponNotApplicable):
        quote(lines=lines, terms=Terms("percent", D("10")))


def test_an_order_without_lines_is_a_programming_error():
    with pytest.raises(ValueError):
        quote(lines=[])


prices = st.decimals(min_value=D("0.00"), max_value=D("99999.99"), places=2)
lines_st = st.lists(
    st.builds(
        Line,
        product=st.integers(1, 50),
        unit_price=prices,
        qty=st.integers(1, 500),
        eligible=st.booleans(),
    ),
    min_size=1,
    max_size=8,
)
terms_st = st.one_of(
    st.none(),
    st.builds(
        Terms,
        kind=st.just("percent"),
        value=st.decimals(min_value=D("0.01"), max_value=D("100"), places=2),
        max_discount=st.one_of(st.none(), prices),
        min_spend=prices,
    ),
    st.builds(
        Terms,
        kind=st.just("fixed"),
        value=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
        max_discount=st.none(),
        min_spend=prices,
    ),
)


@given(lines=lines_st, terms=terms_st, shipping=prices)
def test_totals_are_exact_never_negative_and_discounts_within_their_caps(lines, terms, shipping):
    try:
        q = quote(lines=lines, terms=terms, shipping_fee=shipping)
    except CouponNotApplicable:
        eligible = sum((ln.amount for ln in lines if ln.eligible), D("0"))
        assert terms is not None
        assert eligible <= 0 or eligible < terms.min_spend
        return
    for value in (q.subtotal, q.discount, q.shipping_fee, q.total):
        assert isinstance(value, Decimal)
        assert value == value.quantize(D("0.01"))
    assert q.subtotal == sum((ln.unit_price * ln.qty for ln in lines), D("0"))
    assert q.total == q.subtotal - q.discount + q.shipping_fee
    assert q.total >= q.shipping_fee >= 0
    assert 0 <= q.discount <= sum((ln.amount for ln in lines if ln.eligible), D("0"))
    if terms is not None and terms.max_discount is not None:
        assert q.discount <= terms.max_discount
    if terms is not None and terms.kind == "fixed":
        assert q.discount <= terms.value
