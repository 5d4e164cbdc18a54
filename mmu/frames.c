/* frames.c */
#include "internal.h"
