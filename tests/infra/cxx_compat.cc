// C++ compatibility of the public headers: crm.h compiles as C++ (extern "C",
// no C-only constructs) and the C symbols link from C++.
#include <crm/crm.h>

#include <cstdio>
#include <type_traits>

static_assert(sizeof(crm_order) == 24, "crm_order is frozen at 24 bytes");
static_assert(std::is_standard_layout<crm_order>::value, "crm_order must be plain data");
static_assert(std::is_standard_layout<crm_population_summary>::value, "plain data");

int main()
{
    crm_profiles_options opt;
    if (crm_profiles_options_init(&opt, CRM_PROFILES_OPTIONS_VERSION) != CRM_OK)
        return 1;
    const crm_order orders[] = {{1, 86400, 100}, {2, 2 * 86400, 250}, {1, 3 * 86400, -50}};
    crm_profiles *p = nullptr;
    if (crm_profiles_build(&p, orders, 3, 3, &opt) != CRM_OK) {
        std::fprintf(stderr, "%s\n", crm_last_error());
        return 1;
    }
    const bool ok = crm_profiles_count(p) == 2 && crm_profiles_monetary(p)[0] == 50;
    crm_profiles_free(p);
    std::printf("C++: %s\n", ok ? "ok" : "WRONG");
    return ok && crm_version_number() == CRM_VERSION_NUMBER ? 0 : 1;
}
