"""Every web-service function the product calls, grouped by the feature that needs it.

``accel doctor`` compares this list with the ``functions`` of the token's service (field note 20) and the
README's set-up section lists the same names. Keep the three in step when a feature starts calling a
new function.
"""

from __future__ import annotations

from i18n import N_

#: feature -> its functions; a feature's name is an English msgid (``accel doctor`` shows it translated, its
#: JSON as it is)
FUNCTIONS_BY_FEATURE: dict[str, tuple[str, ...]] = {
    N_("connection (doctor)"): ("core_webservice_get_site_info",),
    N_("course provisioning (provision, templates check)"): (
        "core_course_get_categories",
        "core_course_create_categories",
        "core_course_get_courses_by_field",
        "core_course_duplicate_course",
        "core_course_update_courses",
        "core_course_get_contents",
        "core_course_get_course_module",
        "core_update_inplace_editable",
        "core_courseformat_update_course",
        "core_calendar_create_calendar_events",
        "core_calendar_get_calendar_events",
        "core_calendar_delete_calendar_events",
        "enrol_manual_enrol_users",
        "core_enrol_get_enrolled_users",
        "core_group_get_course_groups",
    ),
    N_("roster sync (roster sync)"): (
        "core_user_get_users_by_field",
        "core_user_create_users",
        "core_user_update_users",
        "core_enrol_get_enrolled_users",
        "enrol_manual_enrol_users",
        "enrol_manual_unenrol_users",
        "core_role_unassign_roles",
        "core_group_get_course_groups",
        "core_group_create_groups",
        "core_group_get_course_groupings",
        "core_group_create_groupings",
        "core_group_assign_grouping",
        "core_group_unassign_grouping",
        "core_group_get_group_members",
        "core_group_add_group_members",
        "core_group_delete_group_members",
    ),
    N_("indicators and reports (indicators gather, report)"): (
        "core_course_get_courses_by_field",
        "core_course_get_course_module",
        "core_enrol_get_enrolled_users",
        "core_group_get_course_groups",
        "core_group_get_group_members",
        "core_group_get_course_groupings",
        "core_group_get_groupings",
        "core_calendar_get_calendar_events",
        "mod_assign_get_assignments",
        "mod_assign_get_submissions",
        "gradereport_user_get_grade_items",
        "mod_choice_get_choices_by_courses",
        "mod_choice_get_choice_results",
        "mod_data_get_databases_by_courses",
        "mod_data_get_fields",
        "mod_data_get_entries",
        "mod_feedback_get_feedbacks_by_courses",
        "mod_feedback_get_items",
        "mod_feedback_get_responses_analysis",
        "mod_forum_get_forums_by_courses",
    ),
    N_("service (serve: reminders, held-sync notices)"): (
        "core_message_send_instant_messages",
        "core_user_get_users_by_field",
    ),
}


def required_functions() -> list[str]:
    """All functions the product uses, sorted and without repeats."""
    return sorted({name for names in FUNCTIONS_BY_FEATURE.values() for name in names})


def features_needing(function: str) -> list[str]:
    """The features that stop working without ``function``."""
    return [feature for feature, names in FUNCTIONS_BY_FEATURE.items() if function in names]
