"""FAB's own screen texts that its Russian catalogue lacks or misspells: our catalogue gives them
(it is read before FAB's). Listed here so that message extraction keeps them; never imported."""

from flask_babel import lazy_gettext as _l

FAB_MESSAGES = [
    _l("Detail"),
    _l("Groups"),
    _l("List Groups"),
    _l("Select Value"),
    _l("The user's password for authentication"),
    _l("The user's email, this will also be used for OID auth"),
    _l("The user role on the application, this will associate with a list of permissions"),
    _l("Views/Menus"),
    _l("User confirmation needed"),
    _l("Are you sure you want to delete this item?"),
    _l("You sure you want to delete this item?"),
    _l("Added Row"),
    _l("Changed Row"),
    _l("Deleted Row"),
    _l("Write the user first name or names"),
    _l("Write the user last name or names"),
    _l("Username valid for authentication on DB or LDAP, unused for OID auth"),
    _l("It's not a good policy to remove a user, just make it inactive"),
    _l("If you are not already a user, please register"),
    _l("Order by"),
    _l("Edit User Information"),
    _l("User information changed"),
    _l("Database Error"),
]
