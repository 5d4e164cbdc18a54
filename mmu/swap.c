/* swap.c */
#include "internal.h"
