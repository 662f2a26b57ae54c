/* Tests of the strict JSON reader (src/import/json.c).
 *
 * Inputs are parsed from exact-size heap copies without a terminating NUL, so a read past
 * the end shows up under valgrind / ASan. Expected numbers are what strtod gives in the C
 * locale (glibc's strtod is correctly rounded, as are the compiler's literals). Facts about
 * the real TensorFlow.js model.json (node count, manifest) were read with Python's json
 * module; the weight sizes are checked against the byte sizes of the shard files themselves.
 *
 * For leak checking run:  CK_FORK=no valgrind --leak-check=full ./test_json */
#include <check.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clssd_internal.h"
#include "json.h"

#ifndef CLSSD_SHARED_DIR
#error "CLSSD_SHARED_DIR must name the shared/ directory"
#endif
#define TFJS_DIR CLSSD_SHARED_DIR "/models/coco_ssdlite_mobilenet_v2_tfjs/"

/* ---------------------------------------------------------------- helpers */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parses src[0..len) from an exact-size copy; returns the status, *out and err as given. */
static clssd_status parse_exact(const char *src, size_t len, clssd_json **out, char *err,
                                size_t err_size)
{
    char *copy = malloc(len ? len : 1);
    ck_assert(copy != NULL);
    memcpy(copy, src, len);
    clssd_status s = clssd__json_parse(copy, len, out, err, err_size);
    free(copy);
    return s;
}

static clssd_json *parse_n(const char *src, size_t len)
{
    char err[256] = "unset";
    clssd_json *v = (clssd_json *)1;
    clssd_status s = parse_exact(src, len, &v, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK, "status %d: %s\n--- input:\n%.*s", (int)s, err, (int)len, src);
    ck_assert(v != NULL);
    ck_assert_str_eq(err, "");
    return v;
}

static clssd_json *parse(const char *src)
{
    return parse_n(src, strlen(src));
}

/* src[0..len) must fail with BAD_MODEL, leave *out NULL and explain itself in err. */
static void reject_n(const char *src, size_t len, char *err, size_t err_size)
{
    clssd_json *v = (clssd_json *)1;
    clssd_status s = parse_exact(src, len, &v, err, err_size);
    ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "expected BAD_MODEL, got %d for: %.*s", (int)s,
                  (int)len, src);
    ck_assert(v == NULL);
    ck_assert_msg(strncmp(err, "line ", 5) == 0, "%s", err);
}

/* Fails, and the message contains `want` (e.g. "line 2, column 3: trailing comma"). */
static void reject_msg_n(const char *src, size_t len, const char *want)
{
    char err[256];
    reject_n(src, len, err, sizeof err);
    ck_assert_msg(strstr(err, want) != NULL, "input %.*s\n  error: %s\n  wanted: %s", (int)len, src,
                  err, want);
}

static void reject_msg(const char *src, const char *want)
{
    reject_msg_n(src, strlen(src), want);
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static const clssd_json *get(const clssd_json *v, const char *key, clssd_json_type type)
{
    const clssd_json *m = clssd__json_get(v, key);
    ck_assert_msg(m != NULL, "no member '%s'", key);
    ck_assert_msg(m->type == type, "member '%s' has type %d", key, (int)m->type);
    return m;
}

static int64_t int_of(const clssd_json *v)
{
    int64_t i = -999;
    ck_assert(v != NULL);
    ck_assert_msg(clssd__json_int(v, &i) == 1, "not an integer (type %d, %.17g)", (int)v->type,
                  v->number);
    return i;
}

/* The fields a type does not use are zero. */
static void check_clean(const clssd_json *v)
{
    if (v->type != CLSSD_JSON_BOOL) ck_assert_int_eq(v->boolean, 0);
    if (v->type != CLSSD_JSON_NUMBER) ck_assert(v->number == 0.0);
    if (v->type != CLSSD_JSON_STRING) {
        ck_assert(v->string == NULL);
        ck_assert_uint_eq(v->string_len, 0);
    } else {
        ck_assert(v->string != NULL);
        ck_assert_uint_eq(strlen(v->string), v->string_len);
    }
    if (v->type != CLSSD_JSON_ARRAY && v->type != CLSSD_JSON_OBJECT) {
        ck_assert(v->items == NULL);
        ck_assert_uint_eq(v->n_items, 0);
    }
    if (v->type != CLSSD_JSON_OBJECT) ck_assert(v->keys == NULL);
    if (v->n_items == 0) ck_assert(v->items == NULL && v->keys == NULL);
    for (size_t i = 0; i < v->n_items; i++)
        check_clean(&v->items[i]);
}

/* ---------------------------------------------------------------- values */
START_TEST(test_scalars)
{
    clssd_json *v = parse("null");
    ck_assert_int_eq(v->type, CLSSD_JSON_NULL);
    check_clean(v);
    clssd__json_free(v);

    v = parse(" \t\r\n true \n");
    ck_assert_int_eq(v->type, CLSSD_JSON_BOOL);
    ck_assert_int_eq(v->boolean, 1);
    check_clean(v);
    clssd__json_free(v);

    v = parse("false");
    ck_assert_int_eq(v->type, CLSSD_JSON_BOOL);
    ck_assert_int_eq(v->boolean, 0);
    clssd__json_free(v);

    v = parse("-12.5e1");
    ck_assert_int_eq(v->type, CLSSD_JSON_NUMBER);
    ck_assert(v->number == -125.0);
    check_clean(v);
    clssd__json_free(v);

    v = parse("\"hello\"");
    ck_assert_int_eq(v->type, CLSSD_JSON_STRING);
    ck_assert_str_eq(v->string, "hello");
    ck_assert_uint_eq(v->string_len, 5);
    check_clean(v);
    clssd__json_free(v);

    /* The empty string is "" rather than NULL. */
    v = parse("\"\"");
    ck_assert(v->string != NULL);
    ck_assert_str_eq(v->string, "");
    ck_assert_uint_eq(v->string_len, 0);
    clssd__json_free(v);

    v = parse("[]");
    ck_assert_int_eq(v->type, CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(v->n_items, 0);
    check_clean(v);
    clssd__json_free(v);

    v = parse("{ }");
    ck_assert_int_eq(v->type, CLSSD_JSON_OBJECT);
    ck_assert_uint_eq(v->n_items, 0);
    ck_assert(clssd__json_get(v, "a") == NULL);
    clssd__json_free(v);

    /* The input is a length, not a C string: what follows it is not looked at. */
    v = parse_n("[1]garbage", 3);
    ck_assert_uint_eq(v->n_items, 1);
    clssd__json_free(v);
    v = parse_n("7", 1);
    ck_assert(v->number == 7.0);
    clssd__json_free(v);

    clssd__json_free(NULL);
}
END_TEST

START_TEST(test_nested)
{
    const char *src = "{\"a\": [1, {\"b\": null, \"c\": [true, false]}, \"x\"],\n"
                      " \"d\": {\"e\": {\"f\": [[], [[]], {}]}},\n"
                      " \"a\": 2, \"\": \"empty key\", \"k\\u00e9y\": 3}";
    clssd_json *v = parse(src);
    check_clean(v);
    ck_assert_int_eq(v->type, CLSSD_JSON_OBJECT);
    ck_assert_uint_eq(v->n_items, 5);
    /* Document order, duplicates kept. */
    ck_assert_str_eq(v->keys[0], "a");
    ck_assert_str_eq(v->keys[1], "d");
    ck_assert_str_eq(v->keys[2], "a");
    ck_assert_str_eq(v->keys[3], "");
    ck_assert_str_eq(v->keys[4], "k\xc3\xa9y");
    ck_assert_int_eq(v->items[2].type, CLSSD_JSON_NUMBER);

    /* The first "a" wins. */
    const clssd_json *a = get(v, "a", CLSSD_JSON_ARRAY);
    ck_assert(a == &v->items[0]);
    ck_assert_uint_eq(a->n_items, 3);
    ck_assert_int_eq(int_of(&a->items[0]), 1);
    const clssd_json *o = &a->items[1];
    ck_assert_int_eq(o->type, CLSSD_JSON_OBJECT);
    get(o, "b", CLSSD_JSON_NULL);
    const clssd_json *c = get(o, "c", CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(c->n_items, 2);
    ck_assert_int_eq(c->items[0].boolean, 1);
    ck_assert_int_eq(c->items[1].boolean, 0);
    ck_assert_str_eq(a->items[2].string, "x");

    const clssd_json *f =
        get(get(get(v, "d", CLSSD_JSON_OBJECT), "e", CLSSD_JSON_OBJECT), "f", CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(f->n_items, 3);
    ck_assert_uint_eq(f->items[0].n_items, 0);
    ck_assert_uint_eq(f->items[1].n_items, 1);
    ck_assert_int_eq(f->items[1].items[0].type, CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(f->items[1].items[0].n_items, 0);
    ck_assert_int_eq(f->items[2].type, CLSSD_JSON_OBJECT);

    ck_assert_str_eq(get(v, "", CLSSD_JSON_STRING)->string, "empty key");
    ck_assert_int_eq(int_of(get(v, "k\xc3\xa9y", CLSSD_JSON_NUMBER)), 3);

    /* Lookups that find nothing. */
    ck_assert(clssd__json_get(v, "missing") == NULL);
    ck_assert(clssd__json_get(v, "A") == NULL);
    ck_assert(clssd__json_get(a, "a") == NULL); /* not an object */
    ck_assert(clssd__json_get(NULL, "a") == NULL);
    ck_assert(clssd__json_get(v, NULL) == NULL);
    clssd__json_free(v);
}
END_TEST

START_TEST(test_strings)
{
    static const struct {
        const char *json;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
        {"\"\\u0001\\u001f\\u007F\\u0080\\u07ff\\u0800\\uFFFF\"",
         "\x01\x1f\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 13},
        /* Surrogate pairs: U+1F600, the first and the last supplementary code points. */
        {"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4},
        {"\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4},
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},
        {"\"x\\uD83D\\uDE00y\\uD83D\\uDE00\"", "x\xf0\x9f\x98\x80y\xf0\x9f\x98\x80", 10},
        /* Raw UTF-8 of every length passes through, up to U+10FFFF; DEL needs no escape. */
        {"\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xf0\x90\x80\x80 "
         "\xf4\x8f\xbf\xbf \x7f\"",
         "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xf0\x90\x80\x80 "
         "\xf4\x8f\xbf\xbf \x7f",
         29},
        {"\"\xe6\x97\xa5\xe6\x9c\xac\\u8a9e\"", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9},
        {"\"/'single' \\/ #not a comment// /**/\"", "/'single' / #not a comment// /**/", 33},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clssd_json *v = parse(cases[i].json);
        ck_assert_int_eq(v->type, CLSSD_JSON_STRING);
        ck_assert_msg(v->string_len == cases[i].len, "case %zu: length %zu", i, v->string_len);
        ck_assert_msg(memcmp(v->string, cases[i].bytes, cases[i].len) == 0, "case %zu", i);
        ck_assert(v->string[v->string_len] == '\0');
        clssd__json_free(v);
    }

    /* Keys decode the same way. */
    clssd_json *v = parse("{\"\\uD83D\\uDE00\\n\": 1, \"\\\"q\\\"\": 2}");
    ck_assert_str_eq(v->keys[0], "\xf0\x9f\x98\x80\n");
    ck_assert_str_eq(v->keys[1], "\"q\"");
    ck_assert_int_eq(int_of(clssd__json_get(v, "\"q\"")), 2);
    clssd__json_free(v);

    /* A long string with many escapes: the allocation is the decoded size. */
    size_t reps = 20000;
    char *big = malloc(reps * 8 + 3);
    size_t k = 0;
    big[k++] = '"';
    for (size_t i = 0; i < reps; i++) {
        memcpy(big + k, "\\u00e9xy", 8);
        k += 8;
    }
    big[k++] = '"';
    v = parse_n(big, k);
    ck_assert_uint_eq(v->string_len, reps * 4);
    for (size_t i = 0; i < reps; i++)
        ck_assert(memcmp(v->string + 4 * i, "\xc3\xa9xy", 4) == 0);
    clssd__json_free(v);
    free(big);
}
END_TEST

static void check_number(const char *text, double want)
{
    clssd_json *v = parse(text);
    ck_assert_int_eq(v->type, CLSSD_JSON_NUMBER);
    ck_assert_msg(same_bits(v->number, want), "%s: got %a, want %a", text, v->number, want);
    /* Also bit for bit what strtod makes of the text in the C locale. */
    ck_assert_msg(same_bits(v->number, strtod(text, NULL)), "%s: %a differs from strtod", text,
                  v->number);
    clssd__json_free(v);
}

START_TEST(test_numbers)
{
    check_number("0", 0.0);
    check_number("-0", -0.0);
    check_number("-0.0", -0.0);
    check_number("0e0", 0.0);
    check_number("0E-0", 0.0);
    check_number("1e-7", 1e-7);
    check_number("3.4028234663852886e38", (double)FLT_MAX);
    check_number("1E+2", 100.0);
    check_number("1e007", 1e7); /* leading zeros are fine in an exponent */
    check_number("0.1", 0.1);
    check_number("-1.5e-3", -1.5e-3);
    check_number("123456789", 123456789.0);
    check_number("9007199254740993", 9007199254740992.0); /* ties to even */
    check_number("1.7976931348623157e308", DBL_MAX);
    check_number("2.2250738585072014e-308", DBL_MIN);
    check_number("4.9e-324", 4.9e-324); /* the smallest subnormal */
    check_number("1e-400", 0.0);        /* underflow reads as strtod gives it */
    check_number("-1e-400", -0.0);
    /* Longer than any fixed buffer: every digit still counts. */
    check_number(
        "0.1000000000000000055511151231257827021181583404541015625000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000001",
        0.1000000000000000055511151231257827021181583404541015625000000000000000000000000000001);
    char digits[400];
    memset(digits, '9', 300);
    digits[300] = '\0';
    check_number(digits, strtod(digits, NULL));
    ck_assert(isinf(strtod(digits, NULL)) == 0);

    /* Numbers inside containers end at the delimiter. */
    clssd_json *v = parse("[1,-2.5,3e2,{\"x\":-0}]");
    ck_assert(v->items[0].number == 1.0);
    ck_assert(v->items[1].number == -2.5);
    ck_assert(v->items[2].number == 300.0);
    ck_assert(signbit(v->items[3].items[0].number));
    clssd__json_free(v);
}
END_TEST

START_TEST(test_json_int)
{
    static const struct {
        const char *json;
        int ok;
        int64_t want;
    } cases[] = {
        {"0", 1, 0},
        {"-0", 1, 0},
        {"42", 1, 42},
        {"-7", 1, -7},
        {"1e2", 1, 100},
        {"1.0", 1, 1},
        {"2.5", 0, 0},
        {"1e-7", 0, 0},
        {"9007199254740992", 1, 9007199254740992LL},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775807", 0, 0}, /* reads as 2^63, one past the range */
        {"1e19", 0, 0},
        {"-1e19", 0, 0},
        {"\"5\"", 0, 0},
        {"true", 0, 0},
        {"null", 0, 0},
        {"[1]", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clssd_json *v = parse(cases[i].json);
        int64_t got = 12345;
        int ok = clssd__json_int(v, &got);
        ck_assert_msg(ok == cases[i].ok, "%s: %d", cases[i].json, ok);
        /* Untouched when not an integer. */
        ck_assert_msg(got == (ok ? cases[i].want : 12345), "%s: %lld", cases[i].json,
                      (long long)got);
        clssd__json_free(v);
    }
    int64_t got = 3;
    ck_assert_int_eq(clssd__json_int(NULL, &got), 0);
    ck_assert(got == 3);
}
END_TEST

START_TEST(test_locale)
{
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8",
                                  "ru_RU.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set) {
        printf("no comma-decimal locale installed: locale case skipped\n");
        return;
    }
    clssd_json *v = parse("[1.5, 2.25e1, 0.1, 3.4028234663852886e38]");
    ck_assert(v->items[0].number == 1.5);
    ck_assert(v->items[1].number == 22.5);
    ck_assert(v->items[2].number == 0.1);
    ck_assert(v->items[3].number == (double)FLT_MAX);
    clssd__json_free(v);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

/* ---------------------------------------------------------------- rejections */
static const struct {
    const char *json;
    const char *want; /* a part of the message */
} bad_cases[] = {
    /* one top-level value, whitespace around it */
    {"", "line 1, column 1: unexpected end of input, expected a value"},
    {" \n\t ", "line 2, column 3: unexpected end of input"},
    {"1 2", "line 1, column 3: unexpected character '2' after the top-level value"},
    {"{} {}", "after the top-level value"},
    {"[] x", "after the top-level value"},
    {"1,", "after the top-level value"},
    {"\"a\" \"b\"", "after the top-level value"},
    {"nullx", "after the top-level value"},
    {"\f1", "unexpected byte 0x0C"}, /* form feed is not JSON whitespace */
    {"\v1", "unexpected byte 0x0B"},
    {"\xc2\xa0[]", "unexpected byte 0xC2"}, /* nor is NO-BREAK SPACE */
    /* trailing commas, missing and doubled separators */
    {"[1,]", "line 1, column 4: trailing comma before ']'"},
    {"[1, 2, ]", "trailing comma before ']'"},
    {"{\"a\":1,}", "trailing comma before '}'"},
    {"{\"a\":1 , }", "line 1, column 10: trailing comma before '}'"},
    {"[1,,2]", "unexpected character ',', expected a value"},
    {"[,]", "unexpected character ','"},
    {"[1 2]", "expected ',' or ']' after an array element"},
    {"{\"a\":1 \"b\":2}", "expected ',' or '}' after an object member"},
    {"{\"a\" 1}", "expected ':' after an object key"},
    {"{\"a\"::1}", "unexpected character ':', expected a value"},
    {"{,}", "expected a string key"},
    {"{1:2}", "unexpected character '1', expected a string key"},
    {"{a:1}", "expected a string key"},
    {"{'a':1}", "expected a string key"},
    {"{\"a\":1]", "expected ',' or '}'"},
    {"[1}", "expected ',' or ']'"},
    {"]", "unexpected character ']', expected a value"},
    /* unterminated */
    {"[1", "line 1, column 3: unexpected end of input, expected ',' or ']'"},
    {"[", "unexpected end of input, expected a value"},
    {"{", "unexpected end of input, expected a string key"},
    {"{\"a\"", "unexpected end of input, expected ':'"},
    {"{\"a\":", "unexpected end of input, expected a value"},
    {"{\"a\":1", "unexpected end of input, expected ',' or '}'"},
    {"[\"abc", "line 1, column 2: unterminated string"},
    {"[\"abc\\", "line 1, column 2: unterminated string"},
    {"[\"abc\\\"]", "unterminated string"},
    /* comments */
    {"// c\n1", "comments are not allowed"},
    {"/* c */ 1", "comments are not allowed"},
    {"[1, /* c */ 2]", "line 1, column 5: comments are not allowed"},
    {"1 // c", "unexpected character '/' after the top-level value"},
    {"# c\n1", "unexpected character '#'"},
    /* literals */
    {"NaN", "NaN and Infinity are not allowed"},
    {"[Infinity]", "NaN and Infinity are not allowed"},
    {"-Infinity", "NaN and Infinity are not allowed"},
    {"nan", "invalid literal"},
    {"tru", "line 1, column 1: invalid literal"},
    {"[nul]", "line 1, column 2: invalid literal"},
    {"True", "unexpected character 'T'"},
    {"None", "unexpected character 'N'"},
    {"undefined", "unexpected character 'u'"},
    {"'a'", "strings must be in double quotes"},
    /* numbers */
    {"01", "numbers may not have leading zeros"},
    {"-01", "numbers may not have leading zeros"},
    {"00", "numbers may not have leading zeros"},
    {"[1, 007]", "line 1, column 5: numbers may not have leading zeros"},
    {"-", "digit expected after '-'"},
    {"-a", "digit expected after '-'"},
    {"- 1", "digit expected after '-'"},
    {"--1", "digit expected after '-'"},
    {"+1", "unexpected character '+'"},
    {".5", "unexpected character '.'"},
    {"1.", "line 1, column 3: digit expected after '.'"},
    {"1.e5", "digit expected after '.'"},
    {"1e", "digit expected in the exponent"},
    {"1e+", "digit expected in the exponent"},
    {"1E-x", "digit expected in the exponent"},
    {"0x10", "unexpected character 'x' after the top-level value"},
    {"1.5.2", "after the top-level value"},
    {"1e400", "number out of the range of a double"},
    {"[-1e400]", "line 1, column 2: number out of the range of a double"},
    /* control characters in strings */
    {"[\"ab\tc\"]", "line 1, column 5: control character 0x09 in a string"},
    {"\"a\nb\"", "control character 0x0A"},
    {"\"\r\"", "control character 0x0D"},
    {"\"\x1f\"", "control character 0x1F"},
    /* escapes */
    {"\"\\x41\"", "line 1, column 2: invalid escape: backslash followed by character 'x'"},
    {"\"\\'\"", "invalid escape"},
    {"\"\\U00000041\"", "invalid escape"},
    {"\"\\a\"", "invalid escape"},
    {"\"\\\xc3\xa9\"", "invalid escape: backslash followed by byte 0xC3"},
    {"\"\\u12\"", "\\u must be followed by 4 hex digits"},
    {"\"\\u12G4\"", "\\u must be followed by 4 hex digits"},
    {"\"\\u 123\"", "\\u must be followed by 4 hex digits"},
    {"\"\\u123", "\\u must be followed by 4 hex digits"},
    /* surrogates */
    {"\"\\uD800\"", "high surrogate \\uD800 not followed by a low surrogate"},
    {"\"\\uDBFF\"", "high surrogate \\uDBFF not followed"},
    {"\"\\uD800x\\uDC00\"", "high surrogate \\uD800 not followed"},
    {"\"\\uD800\\u0041\"", "high surrogate \\uD800 not followed"},
    {"\"\\uD800\\uD800\"", "high surrogate \\uD800 not followed"},
    {"\"\\uD800\\n\"", "high surrogate \\uD800 not followed"},
    {"\"\\uD800\\uDC0", "high surrogate \\uD800 not followed"},
    {"{\"k\": \"ab\\uDC00\"}", "line 1, column 10: lone low surrogate \\uDC00"},
    {"\"\\uDFFF\\uD800\"", "lone low surrogate \\uDFFF"},
    /* \u0000 */
    {"\"a\\u0000b\"", "line 1, column 3: \\u0000 is not supported in strings"},
    {"{\"\\u0000\": 1}", "\\u0000 is not supported"},
    /* invalid UTF-8, in strings and outside */
    {"\"\x80\"", "invalid UTF-8 sequence starting with byte 0x80"},
    {"\"\xbf\"", "invalid UTF-8"},
    {"\"\xc0\x80\"", "invalid UTF-8 sequence starting with byte 0xC0"}, /* overlong NUL */
    {"\"\xc1\xbf\"", "invalid UTF-8"},
    {"\"\xc3\"", "invalid UTF-8"}, /* truncated */
    {"\"\xc3x\"", "invalid UTF-8"},
    {"\"\xe0\x80\x80\"", "invalid UTF-8"}, /* overlong */
    {"\"\xe0\x9f\xbf\"", "invalid UTF-8"},
    {"\"\xe2\x82\"", "invalid UTF-8"},
    {"\"\xed\xa0\x80\"", "invalid UTF-8 sequence starting with byte 0xED"}, /* a surrogate */
    {"\"\xed\xbf\xbf\"", "invalid UTF-8"},
    {"\"\xf0\x8f\xbf\xbf\"", "invalid UTF-8"}, /* overlong */
    {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"}, /* above U+10FFFF */
    {"\"\xf5\x80\x80\x80\"", "invalid UTF-8"},
    {"\"\xf0\x9f\x98\"", "invalid UTF-8"},
    {"\"\xff\"", "invalid UTF-8 sequence starting with byte 0xFF"},
    {"\"\xfe\xff\"", "invalid UTF-8"},
    {"[\"ok\", \"\xe9t\xe9\"]", "line 1, column 9: invalid UTF-8 sequence starting with byte 0xE9"},
    {"\xc3\xa9", "unexpected byte 0xC3, expected a value"},
    {"[1, \xe2\x80\x8b 2]", "unexpected byte 0xE2"}, /* ZERO WIDTH SPACE */
    /* byte order marks: one UTF-8 BOM at the very start, nothing else */
    {"\xef\xbb\xbf", "line 1, column 1: unexpected end of input, expected a value"},
    {"\xef\xbb\xbf\xef\xbb\xbf[]", "line 1, column 1: unexpected byte 0xEF"},
    {" \xef\xbb\xbf[]", "line 1, column 2: unexpected byte 0xEF"},
    {"[\xef\xbb\xbf]", "unexpected byte 0xEF, expected a value"},
    {"\xfe\xff[]", "unexpected byte 0xFE"},
    {"\xef\xbb[]", "unexpected byte 0xEF"},
    {"\xef\xbb\xbf[01]", "line 1, column 2: numbers may not have leading zeros"},
    /* lines and columns */
    {"{\n  \"a\": [1,\n  2,]\n}", "line 3, column 5: trailing comma before ']'"},
    {"[1,\r\n \"abc", "line 2, column 2: unterminated string"},
    {"\n\n\n    tru", "line 4, column 5: invalid literal"},
    {"{\"a\":\n\n1,\n\"b\" 2}", "line 4, column 5: unexpected character '2', expected ':'"},
};

START_TEST(test_rejections)
{
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    for (size_t i = 0; i < n; i++)
        reject_msg(bad_cases[i].json, bad_cases[i].want);

    /* Raw NUL bytes, which the table's C strings cannot hold. */
    reject_msg_n("\"a\0b\"", 5, "line 1, column 3: control character 0x00 in a string");
    reject_msg_n("[1,\0]", 5, "line 1, column 4: unexpected byte 0x00, expected a value");
    reject_msg_n("\0", 1, "unexpected byte 0x00, expected a value");
    reject_msg_n("1\0", 2, "line 1, column 2: unexpected byte 0x00 after the top-level value");

    /* A long number past the range of a double. */
    char big[400];
    big[0] = '1';
    memset(big + 1, '0', 320);
    reject_msg_n(big, 321, "line 1, column 1: number out of the range of a double");

    /* ... and the accepted spellings next to them. */
    static const char *good[] = {
        "\xef\xbb\xbftrue",
        "\xef\xbb\xbf {\"a\" : [ 1 , 2 ] }\r\n",
        "[1,2]",
        "{\"a\":1,\"b\":2}",
        "\"\\u00e9\\uD83D\\uDE00\\/\"",
        "0",
        "-0",
        "0.5e-0",
        "1E9",
        "\" \x7f \"",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        clssd__json_free(parse(good[i]));
}
END_TEST

START_TEST(test_api_edges)
{
    char err[256];
    clssd_json *v = (clssd_json *)1;
    ck_assert_int_eq(clssd__json_parse("1", 1, NULL, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert_int_eq(clssd__json_parse(NULL, 1, &v, err, sizeof err), CLSSD_ERR_INVALID_ARG);
    ck_assert(v == NULL);
    /* No text at all is empty input. */
    v = (clssd_json *)1;
    ck_assert_int_eq(clssd__json_parse(NULL, 0, &v, err, sizeof err), CLSSD_ERR_BAD_MODEL);
    ck_assert(v == NULL);
    ck_assert_msg(strstr(err, "line 1, column 1: unexpected end of input") != NULL, "%s", err);

    /* err is optional, and a short one is truncated, still terminated. */
    ck_assert_int_eq(clssd__json_parse("[1,]", 4, &v, NULL, 0), CLSSD_ERR_BAD_MODEL);
    ck_assert_int_eq(clssd__json_parse("[1,]", 4, &v, err, 0), CLSSD_ERR_BAD_MODEL);
    memset(err, 'x', sizeof err);
    ck_assert_int_eq(clssd__json_parse("[1,]", 4, &v, err, 8), CLSSD_ERR_BAD_MODEL);
    ck_assert_str_eq(err, "line 1,");
    ck_assert_int_eq(clssd__json_parse("[1]", 3, &v, NULL, 0), CLSSD_OK);
    clssd__json_free(v);

    /* The length limit is checked before anything is read, so a short buffer stands in. */
    const char tiny[1] = {'1'};
    ck_assert_int_eq(clssd__json_parse(tiny, (size_t)1 << 30, &v, err, sizeof err),
                     CLSSD_ERR_BAD_MODEL);
    ck_assert(v == NULL);
    ck_assert_msg(strstr(err, "1073741824 bytes is over the 1 GiB limit") != NULL, "%s", err);
}
END_TEST

/* ---------------------------------------------------------------- limits */
static char *nest(size_t depth, int objects, size_t *len)
{
    /* [[[...]]] or {"a":{"a":...{}}}: `depth` containers. */
    char *s = malloc(depth * 6 + 8);
    size_t k = 0;
    for (size_t i = 0; i < depth; i++) {
        if (objects && i + 1 < depth) {
            memcpy(s + k, "{\"a\":", 5);
            k += 5;
        } else {
            s[k++] = objects ? '{' : '[';
        }
    }
    for (size_t i = 0; i < depth; i++)
        s[k++] = objects ? '}' : ']';
    *len = k;
    return s;
}

START_TEST(test_depth)
{
    ck_assert_int_eq(CLSSD_JSON_MAX_DEPTH, 256);
    for (int objects = 0; objects < 2; objects++) {
        size_t len;
        char *s = nest(256, objects, &len);
        clssd_json *v = parse_n(s, len);
        size_t depth = 1;
        for (const clssd_json *c = v; c->n_items; c = &c->items[0])
            depth++;
        ck_assert_uint_eq(depth, 256);
        clssd__json_free(v);
        free(s);

        s = nest(257, objects, &len);
        char err[256];
        reject_n(s, len, err, sizeof err);
        /* Reported at the 257th opening bracket. */
        char want[96];
        snprintf(want, sizeof want, "line 1, column %d: nesting deeper than 256 levels",
                 objects ? 256 * 5 + 1 : 257);
        ck_assert_msg(strstr(err, want) != NULL, "%s", err);
        free(s);
    }

    /* Depth counts containers only: 256 arrays around a scalar are fine. */
    size_t len;
    char *s = nest(256, 0, &len);
    char *t = malloc(len + 1);
    memcpy(t, s, 256);
    t[256] = '7';
    memcpy(t + 257, s + 256, 256);
    clssd_json *v = parse_n(t, len + 1);
    clssd__json_free(v);
    free(t);
    free(s);

    /* Far deeper input fails at the limit rather than overflowing the stack. */
    size_t deep = 1000000;
    s = malloc(deep);
    memset(s, '[', deep);
    reject_msg_n(s, deep, "nesting deeper than 256 levels");
    for (size_t i = 0; i < deep; i += 2)
        s[i] = '{', s[i + 1] = '[';
    reject_msg_n(s, deep, "expected a string key");
    for (size_t i = 0; i + 5 <= deep; i += 5)
        memcpy(s + i, "{\"\":[", 5);
    reject_msg_n(s, deep - deep % 5, "nesting deeper than 256 levels");
    free(s);
}
END_TEST

/* Arrays and objects grow geometrically, so a megabyte parses in about the time of reading it.
 * The bounds are generous: valgrind runs this too. */
START_TEST(test_big)
{
    size_t cap = (size_t)1 << 20, k = 0, count = 0;
    char *s = malloc(cap + 32);
    s[k++] = '[';
    while (k < cap) {
        k += (size_t)sprintf(s + k, "%s%zu", count ? "," : "", count % 1000);
        count++;
    }
    s[k++] = ']';
    double t0 = now_s();
    clssd_json *v = parse_n(s, k);
    double t1 = now_s();
    ck_assert_uint_eq(v->n_items, count);
    for (size_t i = 0; i < count; i++)
        ck_assert_int_eq(int_of(&v->items[i]), (int64_t)(i % 1000));
    clssd__json_free(v);
    printf("1 MB array of %zu numbers: %.1f ms\n", count, (t1 - t0) * 1e3);
    ck_assert_msg(t1 - t0 < 10.0, "%.2f s", t1 - t0);

    /* One object of many members, and one string of a megabyte. */
    k = 0;
    count = 0;
    s[k++] = '{';
    while (k < cap) {
        k += (size_t)sprintf(s + k, "%s\"k%zu\":[%zu]", count ? "," : "", count, count);
        count++;
    }
    s[k++] = '}';
    t0 = now_s();
    v = parse_n(s, k);
    t1 = now_s();
    ck_assert_uint_eq(v->n_items, count);
    char key[32];
    snprintf(key, sizeof key, "k%zu", count - 1);
    ck_assert_str_eq(v->keys[count - 1], key);
    ck_assert_int_eq(int_of(&clssd__json_get(v, key)->items[0]), (int64_t)(count - 1));
    ck_assert_int_eq(int_of(&clssd__json_get(v, "k0")->items[0]), 0);
    clssd__json_free(v);
    ck_assert_msg(t1 - t0 < 10.0, "%.2f s", t1 - t0);

    s[0] = '"';
    for (k = 1; k < cap; k++)
        s[k] = (char)('a' + k % 26);
    s[k++] = '"';
    v = parse_n(s, k);
    ck_assert_uint_eq(v->string_len, cap - 1);
    ck_assert(memcmp(v->string, s + 1, cap - 1) == 0);
    clssd__json_free(v);
    free(s);
}
END_TEST

/* ---------------------------------------------------------------- the real model file */
static int read_file(const char *path, char **data, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    ck_assert(n >= 0);
    *data = malloc((size_t)n + 1);
    ck_assert(*data != NULL);
    ck_assert_uint_eq(fread(*data, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return 1;
}

START_TEST(test_model_file)
{
    char *text;
    size_t size;
    if (!read_file(TFJS_DIR "model.json", &text, &size)) {
        printf("%smodel.json not found: model file case skipped\n", TFJS_DIR);
        return;
    }
    double t0 = now_s();
    clssd_json *root = parse_n(text, size);
    double t1 = now_s();
    printf("model.json (%zu bytes): %.1f ms\n", size, (t1 - t0) * 1e3);
    ck_assert_msg(t1 - t0 < 10.0, "%.2f s", t1 - t0);
    check_clean(root);

    ck_assert_uint_eq(root->n_items, 2);
    const clssd_json *topo = get(root, "modelTopology", CLSSD_JSON_OBJECT);
    const clssd_json *nodes = get(topo, "node", CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(nodes->n_items, 641);
    size_t n_const = 0;
    for (size_t i = 0; i < nodes->n_items; i++) {
        const clssd_json *n = &nodes->items[i];
        ck_assert_int_eq(n->type, CLSSD_JSON_OBJECT);
        get(n, "name", CLSSD_JSON_STRING);
        n_const += strcmp(get(n, "op", CLSSD_JSON_STRING)->string, "Const") == 0;
    }
    ck_assert_uint_eq(n_const, 262);
    ck_assert_str_eq(get(&nodes->items[0], "name", CLSSD_JSON_STRING)->string,
                     "ConstantFolding/Postprocessor/Decode/div_recip");
    ck_assert_str_eq(get(&nodes->items[640], "op", CLSSD_JSON_STRING)->string, "ExpandDims");
    get(get(topo, "versions", CLSSD_JSON_OBJECT), "badConsumers", CLSSD_JSON_ARRAY);

    const clssd_json *manifest = get(root, "weightsManifest", CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(manifest->n_items, 1);
    const clssd_json *paths = get(&manifest->items[0], "paths", CLSSD_JSON_ARRAY);
    const clssd_json *weights = get(&manifest->items[0], "weights", CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(paths->n_items, 5);
    ck_assert_uint_eq(weights->n_items, 262);

    /* Every weight is float32 or int32 (4 bytes), stored back to back in the shards: the
     * element counts of the shapes must add up to the shard files' sizes. */
    int64_t elements = 0;
    size_t n_float = 0;
    for (size_t i = 0; i < weights->n_items; i++) {
        const clssd_json *w = &weights->items[i];
        get(w, "name", CLSSD_JSON_STRING);
        const char *dtype = get(w, "dtype", CLSSD_JSON_STRING)->string;
        ck_assert(strcmp(dtype, "float32") == 0 || strcmp(dtype, "int32") == 0);
        n_float += strcmp(dtype, "float32") == 0;
        const clssd_json *shape = get(w, "shape", CLSSD_JSON_ARRAY);
        int64_t count = 1;
        for (size_t d = 0; d < shape->n_items; d++)
            count *= int_of(&shape->items[d]);
        elements += count;
    }
    ck_assert_uint_eq(n_float, 239);
    ck_assert_str_eq(get(&weights->items[0], "name", CLSSD_JSON_STRING)->string,
                     "ConstantFolding/Postprocessor/Decode/div_recip");
    ck_assert_uint_eq(get(&weights->items[0], "shape", CLSSD_JSON_ARRAY)->n_items, 0);
    const clssd_json *last_shape = get(&weights->items[261], "shape", CLSSD_JSON_ARRAY);
    ck_assert_uint_eq(last_shape->n_items, 1);
    ck_assert_int_eq(int_of(&last_shape->items[0]), 2);

    int64_t shard_bytes = 0;
    for (size_t i = 0; i < paths->n_items; i++) {
        char path[512], want[48];
        snprintf(want, sizeof want, "group1-shard%zuof5", i + 1);
        ck_assert_str_eq(paths->items[i].string, want);
        snprintf(path, sizeof path, "%s%s", TFJS_DIR, paths->items[i].string);
        struct stat st;
        ck_assert_msg(stat(path, &st) == 0, "%s", path);
        shard_bytes += (int64_t)st.st_size;
    }
    ck_assert_int_eq(shard_bytes, 18034528);
    ck_assert_int_eq(elements * 4, shard_bytes);
    clssd__json_free(root);

    /* Cut short anywhere, the file is refused (unless only trailing whitespace is lost). */
    for (size_t n = 0; n < size; n += size / 61 + 1) {
        clssd_json *v = NULL;
        char err[256];
        clssd_status s = parse_exact(text, n, &v, err, sizeof err);
        ck_assert_msg(s == CLSSD_ERR_BAD_MODEL, "cut at %zu: status %d", n, (int)s);
        ck_assert(v == NULL);
    }
    free(text);
}
END_TEST

/* ---------------------------------------------------------------- robustness */
/* Every construct the parser knows, on a few lines; used by the allocation and damage tests. */
static const char medium_doc[] =
    "\xef\xbb\xbf{\n"
    "  \"name\": \"\\u00e9t\\u00e9 \\\"doc\\\" \\ud83d\\ude00 \\\\ \\/ \\b\\f\\n\\r\\t\",\n"
    "  \"raw\": \"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xc3\xa9\",\n"
    "  \"version\": 3, \"empty_array\": [], \"empty_object\": {}, \"\": \"\",\n"
    "  \"values\": [null, true, false, 0, -0, 1.5e-3, 3.4028234663852886e38, -12345678901234,\n"
    "             \"\", \"x\", 1E+2, 0.1],\n"
    "  \"long\": 0.1000000000000000000000000000000000000000000000000000000000000000000000001,\n"
    "  \"nested\": {\"a\": [[1, 2], [3, [4, {\"b\": {\"c\": [5, [], {}]}}]]], \"dup\": 1,\n"
    "             \"dup\": 2},\n"
    "  \"weights\": [{\"name\": \"w0\", \"shape\": [3, 3, 32, 1], \"dtype\": \"float32\"},\n"
    "              {\"name\": \"w1\", \"shape\": [], \"dtype\": \"int32\"}],\n"
    "  \"many\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,\n"
    "            21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39,\n"
    "            40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58,\n"
    "            59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77]\n"
    "}\n";

START_TEST(test_medium_doc)
{
    clssd_json *v = parse(medium_doc);
    check_clean(v);
    ck_assert_str_eq(get(v, "name", CLSSD_JSON_STRING)->string,
                     "\xc3\xa9t\xc3\xa9 \"doc\" \xf0\x9f\x98\x80 \\ / \b\f\n\r\t");
    ck_assert_uint_eq(get(v, "values", CLSSD_JSON_ARRAY)->n_items, 12);
    ck_assert_int_eq(int_of(get(get(v, "nested", CLSSD_JSON_OBJECT), "dup", CLSSD_JSON_NUMBER)), 1);
    ck_assert_uint_eq(get(v, "many", CLSSD_JSON_ARRAY)->n_items, 78);
    ck_assert(get(v, "long", CLSSD_JSON_NUMBER)->number == 0.1);
    clssd__json_free(v);
}
END_TEST

/* Every allocation of a parse failing in turn: OUT_OF_MEMORY, nothing returned and, under
 * valgrind, nothing leaked, until the parse needs no more than were allowed. */
START_TEST(test_alloc_failures)
{
    size_t len = strlen(medium_doc);
    int done = 0;
    long n;
    for (n = 1; n < 100000 && !done; n++) {
        clssd_json *v = (clssd_json *)1;
        char err[256];
        clssd__alloc_fail_after(n);
        clssd_status s = clssd__json_parse(medium_doc, len, &v, err, sizeof err);
        clssd__alloc_fail_after(0);
        if (s == CLSSD_OK) {
            ck_assert(v != NULL);
            done = 1;
        } else {
            ck_assert_msg(s == CLSSD_ERR_OUT_OF_MEMORY, "n=%ld: status %d (%s)", n, (int)s, err);
            ck_assert(v == NULL);
            ck_assert_msg(strncmp(err, "line ", 5) == 0 && strstr(err, ": out of memory"), "%s",
                          err);
        }
        clssd__json_free(v);
    }
    ck_assert(done);
    /* One per string, key and non-empty container, the long number, the stacks, the root. */
    ck_assert_int_gt(n, 40);
}
END_TEST

static size_t n_survived_ok;

/* Damaged input may parse or not; nothing else may happen. */
static void survive(const char *p, size_t n)
{
    clssd_json *v = (clssd_json *)1;
    char err[256];
    clssd_status s = parse_exact(p, n, &v, err, sizeof err);
    ck_assert_msg(s == CLSSD_OK || s == CLSSD_ERR_BAD_MODEL, "status %d", (int)s);
    ck_assert((s == CLSSD_OK) == (v != NULL));
    if (s != CLSSD_OK) ck_assert_msg(strncmp(err, "line ", 5) == 0, "%s", err);
    n_survived_ok += s == CLSSD_OK;
    clssd__json_free(v);
}

/* Deterministic damage at every byte of the medium document: cut there, drop the byte, flip
 * each of its bits, or put a byte there that means something to the grammar. */
START_TEST(test_damage)
{
    static const unsigned char puts_[] = {'"',  '\\', ',',  ':',  '[',  ']',  '{', '}',
                                          '0',  '-',  'e',  '.',  ' ',  'u',  'D', 0x00,
                                          0x0a, 0x7f, 0x80, 0xc3, 0xed, 0xf4, 0xff};
    size_t len = strlen(medium_doc), runs = 0;
    char *work = malloc(len + 1);
    n_survived_ok = 0;
    for (size_t i = 0; i < len; i++) {
        survive(medium_doc, i);
        memcpy(work, medium_doc, i);
        memcpy(work + i, medium_doc + i + 1, len - i - 1);
        survive(work, len - 1);
        runs += 2;
        memcpy(work, medium_doc, len);
        for (int b = 0; b < 8; b++) {
            work[i] = (char)(medium_doc[i] ^ (1 << b));
            survive(work, len);
            runs++;
        }
        for (size_t k = 0; k < sizeof puts_; k++) {
            work[i] = (char)puts_[k];
            survive(work, len);
            runs++;
        }
        work[i] = medium_doc[i];
    }
    free(work);
    printf("damage: %zu parses, %zu accepted\n", runs, n_survived_ok);
    /* Flips inside strings and digits still parse; most damage is refused. */
    ck_assert_uint_gt(n_survived_ok, 100);
    ck_assert_uint_lt(n_survived_ok, runs / 2);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("grammar");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_nested);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_json_int);
    tcase_add_test(tc, test_locale);
    tcase_add_test(tc, test_rejections);
    tcase_add_test(tc, test_api_edges);
    tcase_add_test(tc, test_medium_doc);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 3000); /* generous: these also run under valgrind */
    tcase_add_test(tc, test_depth);
    tcase_add_test(tc, test_big);
    tcase_add_test(tc, test_model_file);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_damage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
