#include "calhousing_model.h"
double calhousing_score_row(const double *x);
double calhousing_score_row(const double *x) { return calhousing_predict(x); }
