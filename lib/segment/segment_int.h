/* Internal structures of the segment module (rule-language segments). */
#ifndef CRM_SEGMENT_INT_H
#define CRM_SEGMENT_INT_H

#include "core/core.h"
#include "crm/segment.h"

__extension__ typedef __int128 seg_wide;

/* Numeric literals are kept exactly as floor/ceil (saturated far beyond any
 * 64-bit value) plus the nearest double. */
#define SEG_WIDE_SAT ((seg_wide)1 << 100)

enum seg_vkind { SEG_V_NUM = 1, SEG_V_STR = 2, SEG_V_NAME = 3 };

typedef struct seg_value {
    seg_wide floor_v, ceil_v; /* numbers: exact floor and ceiling */
    double d;                 /* numbers: nearest double */
    uint32_t off;             /* byte offset of the literal in the text */
    uint32_t s_off, s_len;    /* strings and names: bytes in prog->strings */
    uint8_t kind;             /* enum seg_vkind */
} seg_value;

enum seg_tkind { SEG_T_CMP = 1, SEG_T_IN = 2, SEG_T_BETWEEN = 3 };
enum seg_cmp { SEG_EQ = 1, SEG_NE, SEG_LT, SEG_LE, SEG_GT, SEG_GE };

typedef struct seg_test {
    uint32_t field_off, field_len; /* the field name in prog->text */
    uint32_t op_off;               /* offset of the operator / keyword */
    uint32_t v0, nv;               /* values prog->vals[v0 .. v0 + nv) */
    uint8_t kind;                  /* enum seg_tkind */
    uint8_t op;                    /* enum seg_cmp for SEG_T_CMP */
    uint8_t negate;                /* not in / not between */
} seg_test;

/* Instructions: low 2 bits the opcode, the rest the test index. */
enum seg_op { SEG_OP_TEST = 0, SEG_OP_AND = 1, SEG_OP_OR = 2, SEG_OP_NOT = 3 };

struct crm_segment_program {
    char *text;          /* copy of the expression (NUL-terminated) */
    size_t len;
    uint32_t *code;
    size_t ncode;
    seg_test *tests;
    size_t ntests;
    seg_value *vals;
    size_t nvals;
    char *strings;       /* decoded strings and names */
    size_t nstrings;
    size_t max_stack;    /* evaluation stack depth the code needs */
};

/* ---- environment ---------------------------------------------------------- */

#define SEG_CATEGORICAL 0

typedef struct seg_col {
    char name[CRM_SEGMENT_NAME_MAX + 1];
    int type;            /* CRM_SEGMENT_I8..F64, or SEG_CATEGORICAL */
    const void *values;  /* borrowed column */
    /* categorical only (owned): */
    size_t n_names;
    char *names;         /* concatenated NUL-terminated names */
    uint32_t *name_off;  /* n_names offsets into names */
    uint32_t *sorted;    /* code indices sorted by name */
} seg_col;

struct crm_segment_env {
    size_t n;
    seg_col *cols;
    size_t ncols, cap;
};

/* Column named by bytes [name, name + len), or NULL. */
const seg_col *crm__segment_env_find(const crm_segment_env *env, const char *name,
                                     size_t len);

/* True when [s, s + len) is a keyword of the rule language. */
bool crm__segment_is_keyword(const char *s, size_t len);

/* ---- resolved tests (eval.c) --------------------------------------------- */

typedef struct seg_range {
    uint64_t lo, span;   /* integer types: lo and hi - lo in the type's bits */
    uint64_t klo, khi;   /* integer types: bounds in order-preserving key space */
    double flo, fhi;     /* F64: inclusive bounds */
} seg_range;

/* Above this many ranges (long `in` lists) a test sorts and merges them and
 * looks each value up by binary search instead of one pass per range. */
#define SEG_SET_MIN 8

enum seg_rkind { SEG_R_CONST = 1, SEG_R_RANGES = 2, SEG_R_CAT = 3 };

typedef struct seg_rtest {
    int kind;            /* enum seg_rkind */
    int type;            /* element type for SEG_R_RANGES */
    const void *col;
    int negate;          /* flip the result (!=, not in, not between) */
    int constval;        /* SEG_R_CONST */
    seg_range *ranges;   /* SEG_R_RANGES: OR of these */
    size_t nranges;
    int sorted;          /* ranges sorted by klo / flo, disjoint: binary search */
    uint8_t *lut;        /* SEG_R_CAT: n_names + 1 entries (last = null) */
    uint32_t n_names;
} seg_rtest;

/* Resolve every test of prog against env into *out (array of
 * prog->ntests, freed with crm__segment_resolved_free). On CRM_ERULE sets
 * *err_offset (if not NULL). */
crm_status crm__segment_resolve(seg_rtest **out, const crm_segment_program *prog,
                                const crm_segment_env *env, size_t *err_offset);
void crm__segment_resolved_free(seg_rtest *r, size_t n);

#endif /* CRM_SEGMENT_INT_H */
