/* score.c: score CSV rows with calhousing_model.h, written by `calhousing export --format c`.
 *
 *     cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 score.c -o score
 *     ./score < houses.csv > predictions.txt
 *
 * stdin: a CSV file whose first line names its columns, as `calhousing predict` reads it;
 * the model's features are found by name, other columns are ignored (no quoted fields, lines
 * up to 4095 bytes). stdout: one prediction a line, in $100k, printed with %.17g so that it
 * reads back as the same double. A bad line stops it: one line on stderr, exit code 1.
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calhousing_model.h"

#define MAX_LINE 4096
#define MAX_COLUMNS 256

static int fail(unsigned long line, const char *what, const char *detail)
{
    fprintf(stderr, "score: line %lu: %s%s\n", line, what, detail);
    return 1;
}

/* Reads one line into buffer without its line end; 0 at the end of input, -1 if too long. */
static int read_line(char *buffer)
{
    size_t length;
    if (fgets(buffer, MAX_LINE, stdin) == NULL) {
        return 0;
    }
    length = strlen(buffer);
    if (length > 0 && buffer[length - 1] == '\n') {
        buffer[--length] = '\0';
    } else if (!feof(stdin)) {
        return -1;
    }
    if (length > 0 && buffer[length - 1] == '\r') {
        buffer[--length] = '\0';
    }
    return 1;
}

/* Splits line at its commas, in place; returns the number of fields, or -1 if too many. */
static int split(char *line, char *fields[MAX_COLUMNS])
{
    int count = 0;
    for (;;) {
        char *comma = strchr(line, ',');
        if (count == MAX_COLUMNS) {
            return -1;
        }
        fields[count++] = line;
        if (comma == NULL) {
            return count;
        }
        *comma = '\0';
        line = comma + 1;
    }
}

int main(void)
{
    static char line[MAX_LINE];
    char *fields[MAX_COLUMNS];
    int column[CALHOUSING_N_FEATURES];
    double features[CALHOUSING_N_FEATURES];
    unsigned long number = 1;
    int columns, count, status, i, j;

    status = read_line(line);
    if (status <= 0) {
        return fail(number, status ? "the header is too long" : "no header line", "");
    }
    if (strncmp(line, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte order mark */
        memmove(line, line + 3, strlen(line + 3) + 1);
    }
    columns = split(line, fields);
    if (columns < 0) {
        return fail(number, "the header has too many columns", "");
    }
    for (j = 0; j < CALHOUSING_N_FEATURES; ++j) {
        column[j] = -1;
        for (i = 0; i < columns; ++i) {
            if (strcmp(fields[i], calhousing_feature_names[j]) == 0) {
                column[j] = i;
            }
        }
        if (column[j] < 0) {
            return fail(number, "the header has no column ", calhousing_feature_names[j]);
        }
    }
    while ((status = read_line(line)) != 0) {
        ++number;
        if (status < 0) {
            return fail(number, "the line is too long", "");
        }
        count = split(line, fields);
        if (count != columns) {
            return fail(number, "the number of fields differs from the header's", "");
        }
        for (j = 0; j < CALHOUSING_N_FEATURES; ++j) {
            const char *text = fields[column[j]];
            char *end;
            double value = strtod(text, &end);
            if (end == text || *end != '\0' || !(value >= -DBL_MAX && value <= DBL_MAX)) {
                fprintf(stderr, "score: line %lu: %s is not a finite number: '%s'\n", number,
                        calhousing_feature_names[j], text);
                return 1;
            }
            features[j] = value;
        }
        printf("%.17g\n", calhousing_predict(features));
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        return fail(number, "cannot write the predictions", "");
    }
    return 0;
}
