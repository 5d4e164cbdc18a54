/* regions.c */
#include "internal.h"
