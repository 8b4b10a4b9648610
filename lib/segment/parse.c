/*
 * Rule-language segments: lexer and recursive-descent parser compiling an
 * expression into postfix code (see include/crm/segment.h for the grammar).
 *
 * The text is untrusted: every byte is classified, nesting is bounded by
 * max_depth (the only recursion), the length by max_length, and every
 * error names the byte offset and what was expected there.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "segment/segment_int.h"

static const size_t options_size[] = {
    0,
    CRM__SIZE_THROUGH(crm_segment_options, max_depth),
};

CRM_API crm_status crm_segment_options_init(crm_segment_options *opt, unsigned version)
{
    crm_status s = crm__options_init(opt, version, NULL, options_size, CRM_SEGMENT_OPTIONS_VERSION,
                                     "crm_segment_options");
    if (s)
        return s;
    opt->max_length = CRM_SEGMENT_DEFAULT_MAX_LENGTH;
    opt->max_depth = CRM_SEGMENT_DEFAULT_MAX_DEPTH;
    return CRM_OK;
}

/* ---- lexer ---------------------------------------------------------------- */

enum tok_type {
    TK_END, TK_BAD, TK_IDENT, TK_NUM, TK_STR, TK_LP, TK_RP, TK_COMMA,
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_AND, TK_OR, TK_NOT, TK_IN, TK_BETWEEN,
};

typedef struct token {
    int type;
    size_t off, len;
    const char *bad;  /* TK_BAD: what is wrong */
} token;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident(unsigned char c) { return is_ident_start(c) || is_digit(c); }

static bool word_is(const char *s, size_t len, const char *kw)
{
    size_t k = strlen(kw);
    if (len != k)
        return false;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)kw[i])
            return false;
    }
    return true;
}

static int keyword_type(const char *s, size_t len)
{
    static const struct { const char *w; int t; } kws[] = {
        {"and", TK_AND}, {"or", TK_OR}, {"not", TK_NOT}, {"in", TK_IN},
        {"between", TK_BETWEEN},
    };
    for (size_t i = 0; i < CRM__ARRAY_LEN(kws); i++)
        if (word_is(s, len, kws[i].w))
            return kws[i].t;
    return TK_IDENT;
}

bool crm__segment_is_keyword(const char *s, size_t len)
{
    return keyword_type(s, len) != TK_IDENT;
}

static token lex(const char *t, size_t len, size_t pos)
{
    while (pos < len && is_space((unsigned char)t[pos]))
        pos++;
    token k = {.type = TK_END, .off = pos, .len = 0, .bad = NULL};
    if (pos >= len)
        return k;
    unsigned char c = (unsigned char)t[pos];
    size_t e = pos + 1;
    if (is_ident_start(c)) {
        while (e < len && is_ident((unsigned char)t[e]))
            e++;
        k.len = e - pos;
        k.type = keyword_type(t + pos, k.len);
        return k;
    }
    if (is_digit(c) || (c == '-' && e < len && is_digit((unsigned char)t[e]))) {
        while (e < len && is_digit((unsigned char)t[e]))
            e++;
        if (e < len && t[e] == '.') {
            e++;
            if (e >= len || !is_digit((unsigned char)t[e])) {
                k.type = TK_BAD;
                k.off = e;
                k.bad = "a digit after the decimal point";
                return k;
            }
            while (e < len && is_digit((unsigned char)t[e]))
                e++;
        }
        k.type = TK_NUM;
        k.len = e - pos;
        return k;
    }
    if (c == '"' || c == '\'') {
        while (e < len && (unsigned char)t[e] != c) {
            if (t[e] == '\\')
                e++;
            e++;
        }
        if (e >= len) {
            k.type = TK_BAD;
            k.off = len;
            k.bad = c == '"' ? "a closing '\"'" : "a closing \"'\"";
            return k;
        }
        k.type = TK_STR;
        k.len = e + 1 - pos;
        return k;
    }
    k.len = 1;
    switch (c) {
    case '(': k.type = TK_LP; return k;
    case ')': k.type = TK_RP; return k;
    case ',': k.type = TK_COMMA; return k;
    case '=': k.type = TK_EQ; return k;
    case '<':
    case '>':
        if (e < len && t[e] == '=') {
            k.len = 2;
            k.type = c == '<' ? TK_LE : TK_GE;
        } else {
            k.type = c == '<' ? TK_LT : TK_GT;
        }
        return k;
    case '!':
        if (e < len && t[e] == '=') {
            k.len = 2;
            k.type = TK_NE;
            return k;
        }
        k.type = TK_BAD;
        k.off = e;
        k.bad = "'=' after '!'";
        return k;
    default:
        k.type = TK_BAD;
        k.bad = NULL; /* an invalid character: the parser says what it expected */
        return k;
    }
}

/* ---- parser --------------------------------------------------------------- */

typedef struct parser {
    crm_segment_program *prog;
    const char *t;
    size_t len;
    token tok;
    size_t depth, max_depth;
    size_t sp;
    size_t cap_code, cap_tests, cap_vals, cap_strings;
    size_t err_off;
} parser;

static void advance(parser *p)
{
    p->tok = lex(p->t, p->len, p->tok.off + p->tok.len);
}

/* Human description of the current token, into buf. */
static const char *found(const parser *p, char *buf, size_t cap)
{
    const token *k = &p->tok;
    if (k->type == TK_END)
        return "end of input";
    if (k->type == TK_BAD && k->bad)
        return "a malformed token";
    if (k->type == TK_BAD) {
        snprintf(buf, cap, "invalid character 0x%02x", (unsigned char)p->t[k->off]);
        return buf;
    }
    size_t n = k->len > 32 ? 32 : k->len;
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)p->t[k->off + i];
        if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
        } else {
            snprintf(buf + o, cap - o, "\\x%02x", c);
            o += 4;
        }
    }
    if (k->len > n && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

static crm_status expected(parser *p, const char *what)
{
    char buf[160];
    if (p->tok.type == TK_BAD && p->tok.bad) {
        p->err_off = p->tok.off;
        return crm__fail(CRM_ERULE, "expression byte %zu: expected %s", p->tok.off,
                         p->tok.bad);
    }
    p->err_off = p->tok.off;
    return crm__fail(CRM_ERULE, "expression byte %zu: expected %s but found %s", p->tok.off,
                     what, found(p, buf, sizeof buf));
}

static crm_status grow(void **arr, size_t *cap, size_t need, size_t elsize, const char *what)
{
    if (need <= *cap)
        return CRM_OK;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    crm_status s = crm__realloc_array(arr, c, elsize, what);
    if (!s)
        *cap = c;
    return s;
}

static crm_status emit(parser *p, uint32_t op, size_t arg)
{
    crm_segment_program *g = p->prog;
    crm_status s = grow((void **)&g->code, &p->cap_code, g->ncode + 1, sizeof *g->code,
                        "segment program");
    if (s)
        return s;
    g->code[g->ncode++] = op | (uint32_t)(arg << 2);
    if (op == SEG_OP_TEST) {
        if (++p->sp > g->max_stack)
            g->max_stack = p->sp;
    } else if (op != SEG_OP_NOT) {
        p->sp--;
    }
    return CRM_OK;
}

/* Append decoded bytes to the string pool. */
static crm_status pool_put(parser *p, const char *src, size_t n, bool unescape,
                           uint32_t *off, uint32_t *len)
{
    crm_segment_program *g = p->prog;
    crm_status s = grow((void **)&g->strings, &p->cap_strings, g->nstrings + n + 1, 1,
                        "segment strings");
    if (s)
        return s;
    char *d = g->strings + g->nstrings;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (unescape && src[i] == '\\' && i + 1 < n)
            i++;
        d[o++] = src[i];
    }
    d[o] = '\0';
    *off = (uint32_t)g->nstrings;
    *len = (uint32_t)o;
    g->nstrings += o + 1;
    return CRM_OK;
}

/* Nearest double of a decimal token, independent of the C locale. */
static crm_status number_double(const char *s, size_t n, double *out)
{
    char small[64];
    char *buf = small;
    if (n + 1 > sizeof small) {
        buf = crm__malloc(n + 1);
        if (!buf)
            return crm__fail(CRM_ENOMEM, "segment: cannot allocate %zu bytes", n + 1);
    }
    const char *dp = localeconv()->decimal_point;
    char point = (dp && dp[0] && !dp[1]) ? dp[0] : '.';
    for (size_t i = 0; i < n; i++)
        buf[i] = s[i] == '.' ? point : s[i];
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (buf != small)
        crm__free(buf);
    return CRM_OK;
}

static crm_status parse_value(parser *p)
{
    crm_segment_program *g = p->prog;
    int t = p->tok.type;
    if (t != TK_NUM && t != TK_STR && t != TK_IDENT)
        return expected(p, "a number, a string or a name");
    crm_status s = grow((void **)&g->vals, &p->cap_vals, g->nvals + 1, sizeof *g->vals,
                        "segment values");
    if (s)
        return s;
    seg_value v;
    memset(&v, 0, sizeof v);
    v.off = (uint32_t)p->tok.off;
    const char *src = p->t + p->tok.off;
    size_t n = p->tok.len;
    if (t == TK_NUM) {
        v.kind = SEG_V_NUM;
        size_t i = 0;
        bool neg = src[0] == '-';
        if (neg)
            i++;
        seg_wide ip = 0;
        for (; i < n && src[i] != '.'; i++)
            if (ip < SEG_WIDE_SAT)
                ip = ip * 10 + (src[i] - '0');
        if (ip > SEG_WIDE_SAT)
            ip = SEG_WIDE_SAT;
        bool frac = false;
        for (; i < n; i++)
            if (src[i] >= '1' && src[i] <= '9')
                frac = true;
        if (!neg) {
            v.floor_v = ip;
            v.ceil_v = ip + (frac ? 1 : 0);
        } else {
            v.floor_v = -ip - (frac ? 1 : 0);
            v.ceil_v = -ip;
        }
        s = number_double(src, n, &v.d);
    } else if (t == TK_STR) {
        v.kind = SEG_V_STR;
        s = pool_put(p, src + 1, n - 2, true, &v.s_off, &v.s_len);
    } else {
        v.kind = SEG_V_NAME;
        s = pool_put(p, src, n, false, &v.s_off, &v.s_len);
    }
    if (s)
        return s;
    g->vals[g->nvals++] = v;
    advance(p);
    return CRM_OK;
}

static crm_status parse_expr(parser *p);

static crm_status parse_predicate(parser *p)
{
    crm_segment_program *g = p->prog;
    seg_test te;
    memset(&te, 0, sizeof te);
    te.field_off = (uint32_t)p->tok.off;
    te.field_len = (uint32_t)p->tok.len;
    if (p->tok.len > CRM_SEGMENT_NAME_MAX) {
        p->err_off = p->tok.off;
        return crm__fail(CRM_ERULE, "expression byte %zu: field name longer than %u bytes",
                         p->tok.off, CRM_SEGMENT_NAME_MAX);
    }
    char fname[48];
    snprintf(fname, sizeof fname, "%.*s%s", (int)(p->tok.len > 32 ? 32 : p->tok.len),
             p->t + p->tok.off, p->tok.len > 32 ? "..." : "");
    advance(p);
    te.op_off = (uint32_t)p->tok.off;
    te.v0 = (uint32_t)g->nvals;
    crm_status s;
    switch (p->tok.type) {
    case TK_EQ: case TK_NE: case TK_LT: case TK_LE: case TK_GT: case TK_GE:
        te.kind = SEG_T_CMP;
        te.op = (uint8_t)(SEG_EQ + (p->tok.type - TK_EQ));
        advance(p);
        s = parse_value(p);
        break;
    case TK_NOT:
        advance(p);
        if (p->tok.type != TK_IN && p->tok.type != TK_BETWEEN)
            return expected(p, "'in' or 'between' after 'not'");
        te.negate = 1;
        /* fall through */
    case TK_IN:
    case TK_BETWEEN:
        if (p->tok.type == TK_IN) {
            te.kind = SEG_T_IN;
            advance(p);
            if (p->tok.type != TK_LP)
                return expected(p, "'(' after 'in'");
            advance(p);
            s = parse_value(p);
            while (!s && p->tok.type == TK_COMMA) {
                advance(p);
                s = parse_value(p);
            }
            if (!s && p->tok.type != TK_RP)
                s = expected(p, "',' or ')' in the 'in' list");
            if (!s)
                advance(p);
        } else {
            te.kind = SEG_T_BETWEEN;
            advance(p);
            s = parse_value(p);
            if (!s && p->tok.type != TK_AND)
                s = expected(p, "'and' in 'between ... and ...'");
            if (!s) {
                advance(p);
                s = parse_value(p);
            }
        }
        break;
    default: {
        char what[160];
        snprintf(what, sizeof what,
                 "a comparison (= != < <= > >=), 'in', 'not in' or 'between' after field '%s'",
                 fname);
        return expected(p, what);
    }
    }
    if (s)
        return s;
    te.nv = (uint32_t)(g->nvals - te.v0);
    s = grow((void **)&g->tests, &p->cap_tests, g->ntests + 1, sizeof *g->tests,
             "segment tests");
    if (s)
        return s;
    g->tests[g->ntests] = te;
    return emit(p, SEG_OP_TEST, g->ntests++);
}

static crm_status deeper(parser *p)
{
    if (p->depth + 1 > p->max_depth) {
        p->err_off = p->tok.off;
        return crm__fail(CRM_ERULE, "expression byte %zu: nesting deeper than max_depth %zu",
                         p->tok.off, p->max_depth);
    }
    p->depth++;
    return CRM_OK;
}

static crm_status parse_unary(parser *p)
{
    crm_status s;
    switch (p->tok.type) {
    case TK_NOT:
        if ((s = deeper(p)))
            return s;
        advance(p);
        if ((s = parse_unary(p)))
            return s;
        p->depth--;
        return emit(p, SEG_OP_NOT, 0);
    case TK_LP: {
        if ((s = deeper(p)))
            return s;
        size_t open = p->tok.off;
        advance(p);
        if ((s = parse_expr(p)))
            return s;
        if (p->tok.type != TK_RP) {
            char what[96];
            snprintf(what, sizeof what, "'and', 'or' or ')' closing the '(' at byte %zu", open);
            return expected(p, what);
        }
        advance(p);
        p->depth--;
        return CRM_OK;
    }
    case TK_IDENT:
        return parse_predicate(p);
    default:
        return expected(p, "a field name, 'not' or '('");
    }
}

static crm_status parse_and(parser *p)
{
    crm_status s = parse_unary(p);
    while (!s && p->tok.type == TK_AND) {
        advance(p);
        s = parse_unary(p);
        if (!s)
            s = emit(p, SEG_OP_AND, 0);
    }
    return s;
}

static crm_status parse_expr(parser *p)
{
    crm_status s = parse_and(p);
    while (!s && p->tok.type == TK_OR) {
        advance(p);
        s = parse_and(p);
        if (!s)
            s = emit(p, SEG_OP_OR, 0);
    }
    return s;
}

CRM_API void crm_segment_program_free(crm_segment_program *prog)
{
    if (!prog)
        return;
    crm__free(prog->text);
    crm__free(prog->code);
    crm__free(prog->tests);
    crm__free(prog->vals);
    crm__free(prog->strings);
    crm__free(prog);
}

CRM_API size_t crm_segment_program_tests(const crm_segment_program *prog)
{
    return prog ? prog->ntests : 0;
}

CRM_API crm_status crm_segment_compile(crm_segment_program **out, const char *text,
                                       size_t len, const crm_segment_env *env,
                                       const crm_segment_options *opt, size_t *err_offset)
{
    if (err_offset)
        *err_offset = SIZE_MAX;
    if (!out)
        return crm__fail(CRM_EINVAL, "crm_segment_compile: out is NULL");
    *out = NULL;
    if (!text && len)
        return crm__fail(CRM_EINVAL, "crm_segment_compile: text is NULL");
    crm_segment_options o;
    crm_segment_options_init(&o, CRM_SEGMENT_OPTIONS_VERSION);
    crm_status s = crm__options_resolve(&o, opt, options_size, CRM_SEGMENT_OPTIONS_VERSION,
                                        "crm_segment_options");
    if (s)
        return s;
    if (o.max_length < 1 || o.max_length > CRM_SEGMENT_LIMIT_MAX_LENGTH)
        return crm__fail(CRM_EINVAL, "crm_segment_options.max_length %u not in 1..%u",
                         o.max_length, CRM_SEGMENT_LIMIT_MAX_LENGTH);
    if (o.max_depth < 1 || o.max_depth > CRM_SEGMENT_LIMIT_MAX_DEPTH)
        return crm__fail(CRM_EINVAL, "crm_segment_options.max_depth %u not in 1..%u",
                         o.max_depth, CRM_SEGMENT_LIMIT_MAX_DEPTH);
    if (len > o.max_length) {
        if (err_offset)
            *err_offset = o.max_length;
        return crm__fail(CRM_ERULE,
                         "expression byte %u: expected the end of the expression "
                         "(it is %zu bytes, longer than max_length %u)",
                         o.max_length, len, o.max_length);
    }

    crm_segment_program *g = crm__malloc(sizeof *g);
    if (!g)
        return crm__fail(CRM_ENOMEM, "crm_segment_compile: cannot allocate the program");
    memset(g, 0, sizeof *g);
    g->text = crm__malloc(len + 1);
    if (!g->text) {
        crm__free(g);
        return crm__fail(CRM_ENOMEM, "crm_segment_compile: cannot allocate %zu bytes", len + 1);
    }
    if (len)
        memcpy(g->text, text, len);
    g->text[len] = '\0';
    g->len = len;

    parser p;
    memset(&p, 0, sizeof p);
    p.prog = g;
    p.t = g->text;
    p.len = len;
    p.max_depth = o.max_depth;
    p.err_off = SIZE_MAX;
    p.tok = lex(p.t, len, 0);
    s = parse_expr(&p);
    if (!s && p.tok.type != TK_END)
        s = expected(&p, "'and', 'or' or the end of the expression");
    if (!s && env) {
        seg_rtest *r = NULL;
        s = crm__segment_resolve(&r, g, env, &p.err_off);
        crm__segment_resolved_free(r, g->ntests);
    }
    if (s) {
        if (s == CRM_ERULE && err_offset)
            *err_offset = p.err_off;
        crm_segment_program_free(g);
        return s;
    }
    *out = g;
    return CRM_OK;
}
