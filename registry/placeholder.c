/* placeholder so the library is not empty */
int reg_placeholder_(void);
int reg_placeholder_(void) { return 0; }
