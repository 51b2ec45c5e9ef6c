from django.template import Context, Template

from members.regions import children, is_known, province_name, region_name


def test_a_district_is_named_with_its_province_and_city():
    assert region_name("440305") == "广东省深圳市南山区"
    assert region_name("320106") == "江苏省南京市鼓楼区"


def test_a_municipality_skips_the_placeholder_city_level():
    assert region_name("110105") == "北京市朝阳区"
    assert region_name("110100") == "北京市"
    assert region_name("110000") == "北京市"


def test_a_city_without_districts():
    assert region_name("441900") == "广东省东莞市"


def test_an_unknown_code_is_shown_as_it_is():
    assert region_name("999999") == "999999"
    assert region_name("") == ""
    assert not is_known("999999")


def test_province_of_any_code():
    assert province_name("440305") == "广东省"


def test_children_list_provinces_then_their_places():
    provinces = children()
    assert len(provinces) == 31
    assert provinces[0].code == "110000"
    beijing = [r.code for r in children("110000")]
    assert "110105" in beijing  # districts, not the placeholder 110100
    assert "110100" not in beijing


def test_the_template_filter():
    html = Template("{% load regions %}{{ code|region_name }}").render(Context({"code": "110105"}))
    assert html == "北京市朝阳区"
