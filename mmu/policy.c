/* policy.c */
#include "internal.h"
