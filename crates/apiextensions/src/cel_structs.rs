//! What MutatingAdmissionPolicy expressions construct: `Object{spec: Object.spec{replicas: 3}}`
//! (an apply configuration) and `JSONPatch{op: "add", path: "/spec/replicas", value: 3}`, plus
//! upstream's `jsonpatch.escapeKey()`. Upstream types each `Object.<path>` struct from the
//! matched kind's schema; here every struct name an expression spells is registered as a struct
//! taking any field, and the structural merge that follows applies the kind's list and map
//! semantics. A constructed struct becomes a JSON object ([`to_json`]).

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{CelString, CelStruct, Type};
use cel::common::value::{CowVal, Val};
use cel::{ExecutionError, StructType};
use std::collections::BTreeMap;

/// A struct type accepting any field (its values are checked by the merge, not here).
struct AnyFields {
    ty: Type,
}

impl StructType for AnyFields {
    fn get_type(&self) -> &Type {
        &self.ty
    }

    fn new_value<'b, 'v>(
        &self,
        fields: BTreeMap<String, CowVal<'b, 'v>>,
    ) -> Result<Box<dyn Val + 'v>, ExecutionError> {
        let mut s = CelStruct::new(self.ty.name().to_owned());
        for (name, value) in fields {
            s.add_field_value(name, value);
        }
        Ok(Box::new(s))
    }
}

/// `jsonpatch.escapeKey`: a key made safe for a JSON pointer (`~` → `~0`, `/` → `~1`).
fn escape_key(key: &CelString<'_>) -> CelString<'static> {
    CelString::from(key.inner().replace('~', "~0").replace('/', "~1"))
}

/// The environment a mutation expression runs in: the standard one, `jsonpatch.escapeKey`,
/// and a struct type for every struct literal in `program`.
pub(crate) fn mutation_env(program: &cel::Program) -> Result<cel::Env, String> {
    let mut env = cel::Env::stdlib();
    cel::add_overload!(env, fn escape_key: (CelString) -> CelString<'static>, name = "jsonpatch.escapeKey")
        .map_err(|e| format!("{e:?}"))?;
    let mut names = Vec::new();
    struct_names(program.expression(), &mut names);
    names.sort();
    names.dedup();
    for name in names {
        let ty = Type::new_struct(name.clone());
        env.add_type(cel::TypeDecl::Struct(Box::new(AnyFields { ty })))
            .map_err(|e| format!("struct type {name}: {e:?}"))?;
    }
    Ok(env)
}

/// Every struct type name the expression constructs.
fn struct_names(e: &IdedExpr, out: &mut Vec<String>) {
    let entries = |list: &[cel::common::ast::IdedEntryExpr], out: &mut Vec<String>| {
        for entry in list {
            match &entry.expr {
                EntryExpr::StructField(f) => struct_names(&f.value, out),
                EntryExpr::MapEntry(m) => {
                    struct_names(&m.key, out);
                    struct_names(&m.value, out);
                }
            }
        }
    };
    match &e.expr {
        Expr::Call(call) => {
            call.target.iter().for_each(|t| struct_names(t, out));
            call.args.iter().for_each(|a| struct_names(a, out));
        }
        Expr::Comprehension(c) => {
            for part in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                struct_names(part, out);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|x| struct_names(x, out)),
        Expr::Map(m) => entries(&m.entries, out),
        Expr::Select(s) => struct_names(&s.operand, out),
        Expr::Struct(s) => {
            out.push(s.type_name.trim_start_matches('.').to_owned());
            entries(&s.entries, out);
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// A CEL value as JSON, constructed structs as objects; the struct's type name when the value
/// is one (`Object`, `JSONPatch`).
pub fn to_json(v: &cel::Value) -> Result<serde_json::Value, String> {
    match v {
        cel::Value::Struct(s) => {
            let mut obj = serde_json::Map::new();
            for (name, field) in s.field_values() {
                let value = cel::Value::try_from(field.as_ref()).map_err(|e| e.to_string())?;
                obj.insert(name, to_json(&value)?);
            }
            Ok(serde_json::Value::Object(obj))
        }
        cel::Value::List(items) => items.iter().map(to_json).collect(),
        cel::Value::Map(m) => m
            .map
            .iter()
            .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
            .collect(),
        cel::Value::Int(i) => Ok((*i).into()),
        cel::Value::UInt(u) => Ok((*u).into()),
        cel::Value::Float(f) => Ok((*f).into()),
        cel::Value::String(s) => Ok(s.as_str().into()),
        cel::Value::Bool(b) => Ok((*b).into()),
        cel::Value::Null => Ok(serde_json::Value::Null),
        other => Err(format!("a {:?} has no JSON form", other.type_of())),
    }
}

/// The type name of a constructed struct.
pub fn struct_name(v: &cel::Value) -> Option<String> {
    match v {
        cel::Value::Struct(s) => Some(s.name().to_owned()),
        _ => None,
    }
}
