/* fault.c */
#include "internal.h"
