/* space.c */
#include "internal.h"
