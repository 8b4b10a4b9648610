"""ctypes mirrors of the public C structs (checked against the library's
``crm_struct_size()`` at import)."""
import ctypes


class Order(ctypes.Structure):
    """``crm_order``: one order or refund row (24 bytes, frozen)."""

    _fields_ = [("customer_id", ctypes.c_uint64),
                ("ts", ctypes.c_int64),
                ("amount", ctypes.c_int64)]


class ProfilesOptions(ctypes.Structure):
    """``crm_profiles_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint),
                ("mergeable", ctypes.c_uint32)]


class PopulationSummary(ctypes.Structure):
    """``crm_population_summary`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint),
                ("valid", ctypes.c_uint32),
                ("customers", ctypes.c_uint64),
                ("orders", ctypes.c_uint64),
                ("revenue", ctypes.c_int64),
                ("arpu", ctypes.c_double),
                ("mean_frequency", ctypes.c_double),
                ("average_check", ctypes.c_double),
                ("mean_lifetime", ctypes.c_double),
                ("repeaters", ctypes.c_uint64)]


class Allocator(ctypes.Structure):
    """``crm_allocator`` (only its size is checked; Python never sets hooks)."""

    _fields_ = [("malloc_fn", ctypes.c_void_p),
                ("realloc_fn", ctypes.c_void_p),
                ("free_fn", ctypes.c_void_p),
                ("ctx", ctypes.c_void_p)]


# enum crm_struct_id -> mirror
STRUCT_IDS = {1: Order, 2: Allocator, 3: ProfilesOptions, 4: PopulationSummary}
# Modules with their own mirrors register them under their marker, e.g.
# STRUCT_IDS.update({10: RfmOptions}); mirrors may live in the module's file.
# rfm + segment:


class RfmOptions(ctypes.Structure):
    """``crm_rfm_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("bins", ctypes.c_uint32),
                ("tie", ctypes.c_uint32), ("no_segments", ctypes.c_uint32),
                ("r_cuts", ctypes.c_void_p), ("n_r_cuts", ctypes.c_size_t),
                ("f_cuts", ctypes.c_void_p), ("n_f_cuts", ctypes.c_size_t),
                ("m_cuts", ctypes.c_void_p), ("n_m_cuts", ctypes.c_size_t),
                ("map", ctypes.c_void_p)]


class RfmBox(ctypes.Structure):
    """``crm_rfm_box``: one box of a segment map (frozen)."""

    _fields_ = [("name", ctypes.c_char_p), ("r_lo", ctypes.c_uint8), ("r_hi", ctypes.c_uint8),
                ("f_lo", ctypes.c_uint8), ("f_hi", ctypes.c_uint8), ("m_lo", ctypes.c_uint8),
                ("m_hi", ctypes.c_uint8), ("_pad", ctypes.c_uint8 * 2)]


class RfmExplanation(ctypes.Structure):
    """``crm_rfm_explanation`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("score", ctypes.c_uint32), ("bin", ctypes.c_uint32),
                ("rule", ctypes.c_uint32), ("value", ctypes.c_int64), ("key", ctypes.c_int64),
                ("rank", ctypes.c_uint64), ("count", ctypes.c_uint64),
                ("rank_lo", ctypes.c_uint64), ("rank_hi", ctypes.c_uint64),
                ("lo", ctypes.c_int64), ("hi", ctypes.c_int64)]


class RfmSegmentStats(ctypes.Structure):
    """``crm_rfm_segment_stats`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("_pad", ctypes.c_uint32),
                ("customers", ctypes.c_uint64), ("orders", ctypes.c_uint64),
                ("revenue", ctypes.c_int64), ("share", ctypes.c_double),
                ("mean_recency", ctypes.c_double), ("mean_frequency", ctypes.c_double),
                ("mean_monetary", ctypes.c_double)]


STRUCT_IDS.update({10: RfmOptions, 11: RfmBox, 12: RfmExplanation, 13: RfmSegmentStats})


class SegmentOptions(ctypes.Structure):
    """``crm_segment_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint),
                ("max_length", ctypes.c_uint32),
                ("max_depth", ctypes.c_uint32)]


STRUCT_IDS.update({15: SegmentOptions})
# lifecycle:
class Contact(ctypes.Structure):
    """``crm_contact``: a known contact, maybe without purchases (16 bytes, frozen)."""

    _fields_ = [("customer_id", ctypes.c_uint64), ("created_ts", ctypes.c_int64)]


class LifecycleOptions(ctypes.Structure):
    """``crm_lifecycle_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("new_days", ctypes.c_uint32),
                ("loyal_f", ctypes.c_uint32), ("min_gap_days", ctypes.c_uint32),
                ("at_risk_k", ctypes.c_double), ("churn_k", ctypes.c_double),
                ("p_at_risk", ctypes.c_double), ("p_churned", ctypes.c_double)]


class LifecycleExplanation(ctypes.Structure):
    """``crm_lifecycle_explanation`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("stage", ctypes.c_int32),
                ("rule", ctypes.c_int32), ("created_day", ctypes.c_int32),
                ("customer_id", ctypes.c_uint64), ("asof", ctypes.c_int64),
                ("frequency", ctypes.c_uint32), ("recency_days", ctypes.c_int32),
                ("first_day", ctypes.c_int32), ("last_day", ctypes.c_int32),
                ("prev_day", ctypes.c_int32), ("new_days", ctypes.c_uint32),
                ("loyal_f", ctypes.c_uint32), ("min_gap_days", ctypes.c_uint32),
                ("gap_avg", ctypes.c_double), ("gap_eff", ctypes.c_double),
                ("at_risk_days", ctypes.c_double), ("churn_days", ctypes.c_double),
                ("p_alive", ctypes.c_double), ("p_at_risk", ctypes.c_double),
                ("p_churned", ctypes.c_double), ("comeback_gap", ctypes.c_int32),
                ("orders_before", ctypes.c_uint32), ("comeback_threshold", ctypes.c_double)]


class LifecycleFunnel(ctypes.Structure):
    """``crm_lifecycle_funnel`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("valid", ctypes.c_uint32),
                ("asof", ctypes.c_int64), ("params_id", ctypes.c_uint64),
                ("customers", ctypes.c_uint64 * 8), ("revenue", ctypes.c_int64 * 8),
                ("conversion_base", ctypes.c_uint64), ("conversion_hits", ctypes.c_uint64),
                ("second_purchase_conversion", ctypes.c_double)]


class LifecycleMigration(ctypes.Structure):
    """``crm_lifecycle_migration`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("valid_rows", ctypes.c_uint32),
                ("from_asof", ctypes.c_int64), ("to_asof", ctypes.c_int64),
                ("params_id", ctypes.c_uint64),
                ("counts", (ctypes.c_uint64 * 8) * 9), ("rates", (ctypes.c_double * 8) * 9)]


STRUCT_IDS.update({20: Contact, 21: LifecycleOptions, 22: LifecycleExplanation,
                   23: LifecycleFunnel, 24: LifecycleMigration})
# clv:
class ClvSummaryOptions(ctypes.Structure):
    """``crm_clv_summary_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("unit", ctypes.c_uint32),
                ("merge_same_day", ctypes.c_uint32)]


class ClvFitOptions(ctypes.Structure):
    """``crm_clv_fit_options`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("unit", ctypes.c_uint32),
                ("starts", ctypes.c_uint32), ("max_iter", ctypes.c_uint32),
                ("gtol", ctypes.c_double)]


class ClvFitInfo(ctypes.Structure):
    """``crm_clv_fit_info`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("kind", ctypes.c_int32),
                ("unit", ctypes.c_uint32), ("nparams", ctypes.c_uint32),
                ("fitted", ctypes.c_uint32), ("iterations", ctypes.c_uint32),
                ("evaluations", ctypes.c_uint32), ("starts", ctypes.c_uint32),
                ("starts_converged", ctypes.c_uint32), ("_pad", ctypes.c_uint32),
                ("n", ctypes.c_uint64), ("loglik", ctypes.c_double),
                ("grad_max", ctypes.c_double), ("params", ctypes.c_double * 4),
                ("se", ctypes.c_double * 4)]


STRUCT_IDS.update({30: ClvSummaryOptions, 31: ClvFitOptions, 32: ClvFitInfo})
# fcap:
class FcapCap(ctypes.Structure):
    """``crm_fcap_cap`` (40 bytes, frozen)."""

    _fields_ = [("key", ctypes.c_int64), ("limit", ctypes.c_int64), ("window", ctypes.c_int64),
                ("channels", ctypes.c_uint64), ("scope", ctypes.c_uint8),
                ("sliding", ctypes.c_uint8), ("tz_utc", ctypes.c_uint8),
                ("categories", ctypes.c_uint8), ("reserved", ctypes.c_uint8 * 4)]


class FcapQuiet(ctypes.Structure):
    """``crm_fcap_quiet`` (24 bytes, frozen)."""

    _fields_ = [("start", ctypes.c_int32), ("end", ctypes.c_int32),
                ("channels", ctypes.c_uint64), ("categories", ctypes.c_uint8),
                ("reserved", ctypes.c_uint8 * 7)]


class FcapRules(ctypes.Structure):
    """``crm_fcap_rules`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("n_channels", ctypes.c_uint32),
                ("caps", ctypes.POINTER(FcapCap)), ("n_caps", ctypes.c_size_t),
                ("quiet", ctypes.POINTER(FcapQuiet)), ("n_quiet", ctypes.c_size_t),
                ("sim_gap", ctypes.c_int64), ("sim_max", ctypes.c_uint32),
                ("capped", ctypes.c_uint8 * 4), ("counts", ctypes.c_uint8 * 4),
                ("requires_consent", ctypes.c_uint8 * 4), ("prefer_preferred", ctypes.c_uint8),
                ("week_sunday", ctypes.c_uint8)]


class FcapEvent(ctypes.Structure):
    """``crm_fcap_event``: a history row (48 bytes, frozen)."""

    _fields_ = [("customer_id", ctypes.c_uint64), ("t", ctypes.c_int64),
                ("campaign_id", ctypes.c_uint64), ("cand_id", ctypes.c_uint64),
                ("tag_off", ctypes.c_uint32), ("tag_n", ctypes.c_uint32),
                ("channel", ctypes.c_uint8), ("category", ctypes.c_uint8),
                ("counts", ctypes.c_int8), ("reserved", ctypes.c_uint8 * 5)]


class FcapCandidate(ctypes.Structure):
    """``crm_fcap_candidate`` (88 bytes, frozen)."""

    _fields_ = [("cand_id", ctypes.c_uint64), ("customer_id", ctypes.c_uint64),
                ("t", ctypes.c_int64), ("campaign_id", ctypes.c_uint64),
                ("priority", ctypes.c_int64), ("value", ctypes.c_double),
                ("consent", ctypes.c_uint64), ("tag_off", ctypes.c_uint32),
                ("tag_n", ctypes.c_uint32), ("utc_offset_min", ctypes.c_int32),
                ("preferred", ctypes.c_int16), ("category", ctypes.c_uint8),
                ("override", ctypes.c_uint8), ("n_channels", ctypes.c_uint8),
                ("channels", ctypes.c_uint8 * 15)]


class FcapDecision(ctypes.Structure):
    """``crm_fcap_decision`` (88 bytes, frozen)."""

    _fields_ = [("cand_id", ctypes.c_uint64), ("retry_at", ctypes.c_int64),
                ("rank", ctypes.c_uint32), ("send", ctypes.c_uint8),
                ("channel", ctypes.c_uint8), ("reason", ctypes.c_uint8),
                ("n_tried", ctypes.c_uint8), ("reason_arg", ctypes.c_uint16),
                ("tried", ctypes.c_uint8 * 15), ("detail", ctypes.c_uint8 * 15),
                ("detail_arg", ctypes.c_uint16 * 15)]


STRUCT_IDS.update({40: FcapCap, 41: FcapQuiet, 42: FcapRules, 43: FcapEvent,
                   44: FcapCandidate, 45: FcapDecision})
# attribution:
class Touch(ctypes.Structure):
    """``crm_touch``: one marketing touch (32 bytes, frozen); kind 0 view, 1 click."""

    _fields_ = [("customer_id", ctypes.c_uint64), ("ts", ctypes.c_int64),
                ("channel", ctypes.c_uint32), ("campaign", ctypes.c_uint32),
                ("kind", ctypes.c_uint8), ("_pad", ctypes.c_uint8 * 7)]


class Conversion(ctypes.Structure):
    """``crm_conversion``: one conversion (32 bytes, frozen)."""

    _fields_ = [("customer_id", ctypes.c_uint64), ("ts", ctypes.c_int64),
                ("value", ctypes.c_double), ("weight", ctypes.c_double)]


class AttributionOptions(ctypes.Structure):
    """``crm_attribution_options`` (version 2)."""

    _fields_ = [("version", ctypes.c_uint), ("order", ctypes.c_uint32),
                ("position_first", ctypes.c_double), ("position_middle", ctypes.c_double),
                ("position_last", ctypes.c_double), ("direct_channel", ctypes.c_int64),
                ("half_life_days", ctypes.c_double), ("ordered", ctypes.c_uint32),
                ("keep_self_loops", ctypes.c_uint32), ("max_step", ctypes.c_uint32),
                ("bootstrap", ctypes.c_uint32), ("seed", ctypes.c_uint64),
                ("threads", ctypes.c_uint32)]


class JourneyOptions(ctypes.Structure):
    """``crm_attribution_journey_options`` (version 2)."""

    _fields_ = [("version", ctypes.c_uint), ("click_window_days", ctypes.c_uint32),
                ("view_window_days", ctypes.c_uint32), ("no_reset", ctypes.c_uint32),
                ("by_campaign", ctypes.c_uint32)]


class UpliftResult(ctypes.Structure):
    """``crm_attribution_uplift_result`` (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("_pad", ctypes.c_uint32),
                ("n_test", ctypes.c_uint64), ("n_control", ctypes.c_uint64),
                ("mean_test", ctypes.c_double), ("mean_control", ctypes.c_double),
                ("lift", ctypes.c_double), ("relative_lift", ctypes.c_double),
                ("ci_low", ctypes.c_double), ("ci_high", ctypes.c_double),
                ("p_value", ctypes.c_double), ("df", ctypes.c_double),
                ("incremental", ctypes.c_double)]


STRUCT_IDS.update({50: Touch, 51: Conversion, 52: AttributionOptions, 53: JourneyOptions,
                   54: UpliftResult})
# partial:
