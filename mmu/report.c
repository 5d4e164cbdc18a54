/* report.c */
#include "internal.h"
