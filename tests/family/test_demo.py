from django.core.management import call_command

from family import selectors
from family.models import FamilyLink
from members import demo as members_demo
from tests.conftest import can_view


def test_demo_links_are_seeded_once(db, private_media):
    call_command("seed_demo")
    call_command("seed_demo")

    zhangwei = members_demo.person("zhangwei")
    links = {
        link.relative.name: (link.relationship, link.status, link.scopes(), link.pay_yearly_cap_fen)
        for link in FamilyLink.objects.filter(member=zhangwei).select_related("relative")
    }
    assert links == {
        # the errands demo (errands/demo.py) lets her run his errands too
        "李娜": ("spouse", "approved", ["balance", "records", "pay", "errands"], None),
        "张建国": ("parent", "approved", ["balance"], None),
        "张小雨": ("child", "approved", ["pay"], None),
    }
    lina = members_demo.person("lina")
    father = members_demo.person("zhangjianguo")
    assert can_view(lina.user, zhangwei, "records")
    assert can_view(father.user, zhangwei, "balance")
    assert not can_view(father.user, zhangwei, "records")
    xiaoyu = members_demo.person("zhangxiaoyu")
    assert [g.member for g in selectors.payment_grants_for(patient=xiaoyu)] == [zhangwei]
