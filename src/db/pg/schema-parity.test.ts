import { getTableName, is } from 'drizzle-orm';
import { getTableConfig as pgConfig, PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { describe, expect, test } from 'vitest';
import { sqliteTables } from '../database.ts';
import { pgTables } from './tables.ts';

/**
 * Repositories are written once against the SQLite schema and run on the PostgreSQL twin
 * (src/db/pg/): the two must declare the same tables, columns, keys and indexes, with the same
 * JavaScript value per column. A table or column added to one dialect only fails here.
 */

const sqliteByName = new Map(Object.values(sqliteTables).flatMap((table) => (is(table, SQLiteTable) ? [[getTableName(table), table] as const] : [])));
const pgByName = new Map(Object.values(pgTables).flatMap((table) => (is(table, PgTable) ? [[getTableName(table), table] as const] : [])));

interface ColumnShape {
  key: string;
  notNull: boolean;
  primary: boolean;
  hasDefault: boolean;
  /** The JavaScript value drizzle maps the column to: 'string', 'number', 'boolean', 'date', 'json'. */
  dataType: string;
  enumValues: string[] | undefined;
}

/** The JavaScript value of src/db/pg/columns.ts's custom column types, by SQL type. */
const CUSTOM_TYPES: Record<string, string> = { 'text COLLATE "C"': 'string', jsonb: 'json' };

function columnShapes(columns: Record<string, { name: string; notNull: boolean; primary: boolean; hasDefault: boolean; dataType: string; enumValues?: string[] }>) {
  const shapes = new Map<string, ColumnShape>();
  for (const [key, column] of Object.entries(columns)) {
    shapes.set(column.name, {
      key,
      notNull: column.notNull,
      primary: column.primary,
      // AUTOINCREMENT and identity columns count as having one.
      hasDefault: column.hasDefault,
      // cText (text COLLATE "C") and cJsonb (jsonb) are drizzle custom types whose values are strings and JSON.
      dataType: column.dataType === 'custom' ? (CUSTOM_TYPES[(column as { getSQLType?: () => string }).getSQLType?.() ?? ''] ?? 'custom') : column.dataType,
      enumValues: column.enumValues?.length ? column.enumValues : undefined,
    });
  }
  return shapes;
}

const sortedIndexes = (indexes: { name: string; unique: boolean; columns: string[]; partial: boolean }[]) => [...indexes].sort((a, b) => a.name.localeCompare(b.name));

describe('PostgreSQL schema parity with SQLite', () => {
  test('the same tables, under the same JavaScript names', () => {
    expect([...pgByName.keys()].sort()).toEqual([...sqliteByName.keys()].sort());
    const jsNames = (tables: Record<string, unknown>) =>
      Object.entries(tables)
        .filter(([, table]) => is(table, SQLiteTable) || is(table, PgTable))
        .map(([name]) => name)
        .sort();
    expect(jsNames(pgTables)).toEqual(jsNames(sqliteTables));
    expect(sqliteByName.size).toBeGreaterThanOrEqual(13);
  });

  for (const [name, sqliteTable] of sqliteByName) {
    describe(name, () => {
      const sqlite = sqliteConfig(sqliteTable);
      const pgTable = pgByName.get(name);

      test('exists on PostgreSQL', () => {
        expect(pgTable, `src/db/pg/ lacks table ${name}`).toBeDefined();
      });
      if (!pgTable) return;
      const pg = pgConfig(pgTable);

      test('same columns: names, JS keys, nullability, primary key, default, JS value type, enum values', () => {
        const sqliteColumns = columnShapes(Object.fromEntries(sqlite.columns.map((column) => [keyOf(sqliteTable, column), column])));
        const pgColumns = columnShapes(Object.fromEntries(pg.columns.map((column) => [keyOf(pgTable, column), column])));
        expect([...pgColumns.keys()].sort()).toEqual([...sqliteColumns.keys()].sort());
        for (const [column, shape] of sqliteColumns) expect({ column, ...pgColumns.get(column) }).toEqual({ column, ...shape });
      });

      test('same composite primary key', () => {
        const keys = (pks: { columns: { name: string }[] }[]) => pks.map((pk) => pk.columns.map((column) => column.name));
        expect(keys(pg.primaryKeys)).toEqual(keys(sqlite.primaryKeys));
      });

      test('same indexes: names, uniqueness, columns, partial or not', () => {
        const shape = (indexes: { config: { name: string; unique: boolean; columns: unknown[]; where?: unknown } }[]) =>
          sortedIndexes(
            indexes.map(({ config }) => ({
              name: config.name,
              unique: config.unique,
              columns: config.columns.map((column) => (column as { name: string }).name),
              partial: config.where !== undefined,
            })),
          );
        expect(shape(pg.indexes as never)).toEqual(shape(sqlite.indexes as never));
      });

      test('same foreign keys (columns, referenced table and columns, on delete)', () => {
        const shape = (fks: { reference(): { columns: { name: string }[]; foreignColumns: { name: string; table: unknown }[] }; onDelete?: string }[]) =>
          fks
            .map((fk) => {
              const reference = fk.reference();
              return {
                columns: reference.columns.map((column) => column.name),
                table: getTableName(reference.foreignColumns[0].table as never),
                foreignColumns: reference.foreignColumns.map((column) => column.name),
                onDelete: fk.onDelete,
              };
            })
            .sort((a, b) => a.columns.join().localeCompare(b.columns.join()));
        expect(shape(pg.foreignKeys as never)).toEqual(shape(sqlite.foreignKeys as never));
      });

      test('free text compares byte-wise (COLLATE "C"), as every SQLite text column does', () => {
        for (const column of pg.columns) {
          if ((column.dataType !== 'string' && column.dataType !== 'custom') || column.enumValues?.length || CUSTOM_TYPES[column.getSQLType()] === 'json') continue;
          expect(`${column.name}: ${column.getSQLType()}`).toBe(`${column.name}: text COLLATE "C"`);
        }
      });
    });
  }
});

function keyOf(table: object, column: object): string {
  const entry = Object.entries(table).find(([, value]) => value === column);
  if (!entry) throw new Error('column not found on its table');
  return entry[0];
}
