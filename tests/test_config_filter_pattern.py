"""The filter-pattern parser against the documented examples, both ways, and against CDK's builders."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib.config.filter_pattern import FilterPatternError, check_filter_pattern, max_filter_pattern_length

#: Examples from "Filter pattern syntax for metric filters, subscription filters, filter log events
#: and Live Tail" (CloudWatch Logs User Guide) and its regex page; CloudWatch accepts each.
DOCUMENTED_VALID = [
    "",
    "ERROR",
    "ERROR ARGUMENTS",
    "?ERROR ?ARGUMENTS",
    "ERROR -ARGUMENTS",
    '"Failed to start"',
    '" "',
    "%AUTHORIZED%",
    r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%",
    "%[Ee]rror|[Ff]ail%",
    "%^[hc]at%",
    "%colou?r%",
    '{ $.eventType = "UpdateTrail" }',
    "{ $.sourceIPAddress != 123.123.* }",
    '{ $.arrayKey[0] = "value" }',
    "{ $.objectList[1].id = 2 }",
    '{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }',
    '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }',
    "{ $.bandwidth > 75 }",
    "{ $.latency < 50 }",
    "{ $.refreshRate >= 60 }",
    "{ $.responseTime <= 5 }",
    "{ $.errorCode = 400 }",
    "{ $.errorCode != 500 }",
    "{ $.number[0] = 1e+3 }",
    "{ $.fieldName IS NULL }",
    "{ $.fieldName NOT EXISTS }",
    "{ $.users[0].active IS TRUE }",
    "{ $.users[0].active IS FALSE }",
    "{ $.errorCode = * }",
    "{ $.key1 = %^[A-Za-z0-9]{4}% }",
    "[ip, user, username, timestamp, request, status_code, bytes]",
    '[ip, user, username, timestamp, request = "*html*", status_code = 4*, bytes]',
    "[ip, user, username, timestamp, request = *html*, status_code = 4* || status_code = 5*, bytes]",
    "[..., status_code = 404, bytes]",
    "[w1=ERROR || w1=WARN, ...]",
    "[ip, user, ..., status_code >= 400 && status_code < 500, size > 1000]",
    "[w1=%ERROR%, w2]",
    # the examples in config/
    "?WARN ?ERROR ?CRITICAL ?Traceback",
]

#: What CloudWatch refuses, with the reason our message gives.
DOCUMENTED_INVALID = [
    ("ERROR:", "unquoted term 'ERROR:' may contain only letters, digits and _"),
    ('"Failed to start', "unterminated quoted term"),
    ("? ERROR", "'?' must be followed by a term"),
    ('ERROR"x"', "unquoted term"),
    ("%(WARN|ERROR)%", "%regex% may not contain '(' ')'"),
    ("%a b%", "%regex% may not contain ' '"),
    ("%WARN", "unterminated %regex%"),
    ("%%", "empty %regex%"),
    ("%é%", "%regex% may not contain 'é'"),
    ('{ $.level = "ERROR"', "expected '}' closing the JSON pattern"),
    ("{ }", "empty JSON pattern"),
    ("{ level = 1 }", "expected a property selector such as $.level"),
    ("{ $ = 1 }", "a selector names a property"),
    ("{ $. = 1 }", "expected a property name after '.'"),
    ("{ $.a[x] = 1 }", "expected an array index"),
    ('{ $.latency > "slow" }', "'>' compares numbers; a quoted string"),
    ("{ $.latency >= fast }", "'>=' compares numbers, not 'fast'"),
    ("{ $.a < %x% }", "'<' compares numbers; a %regex%"),
    ("{ $.a IS MAYBE }", "expected a comparison"),
    ("{ $.a = }", "expected a value after '='"),
    ("{ ($.a = 1 }", "expected ')'"),
    ("{ $.a = 1 } ERROR", "unexpected text after the pattern"),
    ("{ $.a = %x% && $.b = %y% && $.c = %z% }", "at most 2 %regex%, this has 3"),
    ("[ip, user", "expected ',' or ']'"),
    ("[ip user]", "expected ',' or ']'"),
    ("[ip, status = ]", "expected a value after '='"),
    ("[ip, status = 4* && ]", "expected a field name"),
    ("[ip, status = 4* || 5*]", "expected a field name"),
    ("[ip, 1st]", "expected a field name"),
    ("[a=%x%, b=%y%, c=%z%]", "at most 2 %regex%, this has 3"),
]


@pytest.mark.parametrize("pattern", DOCUMENTED_VALID)
def test_documented_patterns_are_accepted(pattern):
    check_filter_pattern(pattern)


@pytest.mark.parametrize(("pattern", "reason"), DOCUMENTED_INVALID)
def test_patterns_cloudwatch_refuses_are_rejected_with_the_reason(pattern, reason):
    with pytest.raises(FilterPatternError) as caught:
        check_filter_pattern(pattern)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_length_limit_comes_from_the_cloudwatch_logs_model():
    import botocore.session

    limit = botocore.session.get_session().get_service_model("logs").shape_for("FilterPattern").metadata["max"]
    assert max_filter_pattern_length() == limit
    check_filter_pattern("a" * limit)
    with pytest.raises(FilterPatternError, match=f"at most {limit} characters"):
        check_filter_pattern("a" * (limit + 1))


def test_patterns_built_by_cdks_own_filter_pattern_builders_are_accepted():
    """CDK's ``FilterPattern`` renders the documented syntax; every builder's output must parse."""
    from aws_cdk import aws_logs as logs

    fp = logs.FilterPattern
    built = [
        fp.all_events(),
        fp.all_terms("ERROR", "MainThread"),
        fp.any_term("ERROR", "WARN"),
        fp.any_term_group(["ERROR", "MainThread"], ["WARN", "Deadlock"]),
        fp.string_value("$.component", "=", "HttpServer"),
        fp.number_value("$.latency", ">", 1000),
        fp.boolean_value("$.error", True),
        fp.is_null("$.field"),
        fp.not_exists("$.field"),
        fp.exists("$.field"),
        fp.all(fp.string_value("$.component", "=", "HttpServer"),
               fp.any(fp.boolean_value("$.error", True), fp.number_value("$.latency", ">", 1000))),
        fp.space_delimited("time", "component", "...", "result_code", "latency")
        .where_string("component", "=", "HttpServer").where_number("result_code", "!=", 200),
        fp.regex_value("$.message", "=", "^[Ee]rror"),
    ]
    for pattern in built:
        check_filter_pattern(pattern.log_pattern_string)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_accepted_or_rejected_with_a_one_line_reason_never_a_crash(text):
    try:
        check_filter_pattern(text)
    except FilterPatternError as error:
        assert str(error) and "\n" not in str(error)
