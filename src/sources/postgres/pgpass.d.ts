/** Types of the pgpass package's one function. The package ships none. */
declare module 'pgpass' {
  /** Connection fields matched against the lines of the password file. */
  interface PgPassConnection {
    host: string;
    port: number;
    database: string;
    user: string;
  }
  /**
   * Looks up the password of `connection` in the file PGPASSFILE names, else
   * ~/.pgpass, and calls `callback` with it. The callback gets undefined when
   * no line matches, the file is missing or readable by group or others, or
   * PGPASSWORD is set.
   */
  function pgpass(
    connection: PgPassConnection,
    callback: (password: string | undefined) => void,
  ): void;
  export default pgpass;
}
