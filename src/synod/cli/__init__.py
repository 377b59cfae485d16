"""The ``synod`` command line. May import every other layer; nothing imports it."""
