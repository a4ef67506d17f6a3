"""The fast path: evaluatePixel interpreted once over all pixels, on numpy arrays.

Each AST node is evaluated once per render, not once per pixel: band values are float64
arrays, and so is every value computed from them. Branches on such values become masks:
both sides of an `if` or `?:` run on their own lanes and their results are merged, an early
`return` retires its lanes, and the remaining statements run on the lanes still active.
Control flow that is the same for every pixel (constant loops, uniform conditions) runs as
plain Python.

What this cannot reproduce exactly raises `Unsupported` (a loop whose condition differs
between pixels, evaluatePixel changing global state, strings built per pixel, exceptions,
anything unknown), and the engine runs the script on the exact path instead.
"""

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from renderers.evalscript import builtins
from renderers.evalscript.errors import EvalscriptTimeout
from renderers.evalscript.values import (
    UNDEFINED,
    JSArray,
    JSObject,
    Mixed,
    Native,
    Unsupported,
    distribute,
    is_varying,
    js_pow,
    mask_and,
    mask_any,
    merge,
    number_result,
    restrict,
    to_number,
    truthy,
    type_name,
)
from renderers.evalscript.values import Mask as MaskType

__all__ = ["VectorProgram"]

# Past these the script is more loop than pixel maths: V8 runs it faster and enforces limits.
MAX_ITERATIONS = 100_000
MAX_CALL_DEPTH = 48
MAX_DISTINCT_KEYS = 256
# Bytes the arrays, objects and strings a run makes may hold in all; V8 has the real memory limit.
MAX_ALLOCATED = 256 * 1024 * 1024


class _Return(Exception):
    pass


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Env:
    """A scope. `lanes` is the mask it was entered under: assignments under that same mask replace values."""

    __slots__ = ("consts", "lanes", "parent", "pixel", "this", "vars")

    def __init__(self, parent: "Env | None", lanes: MaskType, pixel: bool, this: Any = None) -> None:
        self.vars: dict[str, Any] = {}
        self.consts: set[str] = set()
        self.parent = parent
        self.lanes = lanes
        self.pixel = pixel
        self.this: Any = this if this is not None else (parent.this if parent is not None else UNDEFINED)

    def find(self, name: str) -> "Env | None":
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env
            env = env.parent
        return None


class JSFunction:
    """A function of the script, closed over its scope."""

    def __init__(self, node: Any, env: Env, this: Any, interpreter: "_Interpreter") -> None:
        self.node = node
        self.env = env
        self.arrow = node.type == "ArrowFunctionExpression"
        self.this = this
        self.props: dict[str, Any] = {}
        self.shared = not interpreter.pixel_phase

    def get(self, key: str) -> Any:
        if key == "prototype" and not self.arrow and key not in self.props:
            self.props[key] = JSObject(shared=self.shared)
        return self.props.get(key, UNDEFINED)

    def call(self, interp: "_Interpreter", this: Any, args: list[Any], mask: MaskType) -> Any:
        interp.enter()
        try:
            env = Env(self.env, mask, interp.pixel_phase, self.this if self.arrow else this)
            for position, param in enumerate(self.node.params):
                value = args[position] if position < len(args) else UNDEFINED
                interp.bind_pattern(param, value, env, mask, args[position:])
            body = self.node.body
            if self.node.expression:
                return interp.eval(body, env, mask)
            return interp.run_body(body.body, env, mask)
        finally:
            interp.depth -= 1


class VectorProgram:
    """A script's tree, ready to run over arrays; `simple_bands` as for `V8Program`."""

    def __init__(self, tree: Any, simple_bands: Sequence[str] | None) -> None:
        self.tree = tree
        self.simple_bands = None if simple_bands is None else tuple(simple_bands)
        # The `var` names of each function body, by the id of its statement list: found once, not per call.
        self._var_names: dict[int, list[str]] = {}

    def run(self, inputs: Mapping[str, np.ndarray], n: int, deadline: float, normalization_factor: float) -> Any:
        """evaluatePixel's result over all pixels (a value of renderers.evalscript.values)."""
        interp = _Interpreter(n, deadline, self._var_names)
        root = builtins.global_env(Env(None, None, False), interp)
        if self.simple_bands is not None:
            interp.pixel_phase = True
            env = Env(root, None, True)
            for name in self.simple_bands:
                env.vars[name] = inputs[name]
            return interp.run_body(self.tree.body.body, env, None)
        env = Env(root, None, False)
        interp.run_body(self.tree.body.body, env, None)
        evaluate_pixel = env.vars.get("evaluatePixel")
        if not isinstance(evaluate_pixel, JSFunction):
            raise Unsupported("evaluatePixel is not a plain function")
        interp.pixel_phase = True
        sample = JSObject(dict(inputs))
        metadata = JSObject({"serviceVersion": "3", "normalizationFactor": float(normalization_factor)})
        args = [sample, JSArray([]), metadata, JSObject(), JSObject({"userData": JSObject()})]
        return evaluate_pixel.call(interp, UNDEFINED, args, None)


class _Frame:
    """The lanes of one call that have returned, and what they returned."""

    __slots__ = ("entry", "returned", "value")

    def __init__(self, entry: MaskType) -> None:
        self.entry = entry
        self.returned: np.ndarray | None = None
        self.value: Any = UNDEFINED

    def active(self, mask: MaskType) -> MaskType:
        if self.returned is None:
            return mask
        return ~self.returned if mask is None else mask & ~self.returned


class _Interpreter:
    def __init__(self, n: int, deadline: float, var_names: dict[int, list[str]]) -> None:
        self.n = n
        self.var_names = var_names
        self.deadline = deadline
        self.pixel_phase = False
        self.depth = 0
        self.iterations = 0
        self.allocated = 0
        self.frames: list[_Frame] = []

    # -- bookkeeping --------------------------------------------------------------------

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            raise Unsupported("calls nested deeper than the fast path goes")
        self.tick()

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise EvalscriptTimeout("the evalscript ran past its deadline")

    def allocate(self, values: Sequence[Any] | str) -> None:
        """Count what a new array, object or string holds against MAX_ALLOCATED."""
        if isinstance(values, str):
            self.allocated += len(values)
        else:
            self.allocated += sum(v.nbytes if isinstance(v, np.ndarray) else 8 for v in values)
        if self.allocated > MAX_ALLOCATED:
            raise Unsupported("more memory than the fast path lets a script hold")

    def loop_step(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise Unsupported("more loop iterations than the fast path runs")
        self.tick()

    def condition(self, value: Any, mask: MaskType) -> bool | np.ndarray:
        """Truthiness; a bool array only when the active lanes disagree."""
        test = truthy(value, self.n)
        if isinstance(test, np.ndarray):
            lanes = test if mask is None else test[mask]
            if lanes.all():
                return True
            if not lanes.any():
                return False
        return test

    # -- statements ---------------------------------------------------------------------

    def run_body(self, statements: list[Any], env: Env, mask: MaskType) -> Any:
        """Run a function body; its return value, undefined in lanes that did not return."""
        frame = _Frame(mask)
        self.frames.append(frame)
        try:
            self.hoist(statements, env, env)
            self.block(statements, env, mask)
        except _Return:
            pass
        except (_Break, _Continue):
            raise Unsupported("break or continue outside a loop") from None
        finally:
            self.frames.pop()
        if frame.returned is None:
            return frame.value
        return merge(frame.returned, frame.value, UNDEFINED, self.n)

    def hoist(self, statements: list[Any], function_env: Env, block_env: Env) -> None:
        for statement in statements:
            if statement.type == "FunctionDeclaration":
                if statement.isAsync or statement.generator:
                    raise Unsupported("async and generator functions")
                block_env.vars[statement.id.name] = JSFunction(statement, block_env, UNDEFINED, self)
        if function_env is block_env:
            names = self.var_names.get(id(statements))
            if names is None:
                names = self.var_names[id(statements)] = _var_names(statements)
            for name in names:
                function_env.vars.setdefault(name, UNDEFINED)

    def block(self, statements: list[Any], env: Env, mask: MaskType) -> None:
        frame = self.frames[-1]
        for statement in statements:
            active = frame.active(mask)
            if active is not None and not active.any():
                return
            # The entry mask object while no lane has returned, so assignments stay plain.
            self.statement(statement, env, mask if frame.returned is None else active)

    def statement(self, node: Any, env: Env, mask: MaskType) -> None:
        handler = getattr(self, "s_" + node.type, None)
        if handler is None:
            raise Unsupported(f"{node.type} statements")
        handler(node, env, mask)

    def s_EmptyStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        pass

    def s_FunctionDeclaration(self, node: Any, env: Env, mask: MaskType) -> None:
        pass  # hoisted

    def s_ExpressionStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        self.eval(node.expression, env, mask)

    def s_VariableDeclaration(self, node: Any, env: Env, mask: MaskType) -> None:
        for declarator in node.declarations:
            if node.kind == "var":
                if declarator.init is not None:
                    self.assign_pattern(declarator.id, self.eval(declarator.init, env, mask), env, mask)
                continue
            value = UNDEFINED if declarator.init is None else self.eval(declarator.init, env, mask)
            self.bind_pattern(declarator.id, value, env, mask, None)
            if node.kind == "const":
                env.consts.update(_pattern_identifiers(declarator.id))

    def s_BlockStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        inner = Env(env, mask, env.pixel)
        self.hoist(node.body, env, inner)
        self.block(node.body, inner, mask)

    def s_ReturnStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        value = UNDEFINED if node.argument is None else self.eval(node.argument, env, mask)
        frame = self.frames[-1]
        if frame.returned is None:
            frame.value = value
            if mask is None or mask is frame.entry:
                raise _Return
            frame.returned = mask.copy()
        else:
            frame.value = merge(mask, value, frame.value, self.n)
            frame.returned = frame.returned | (np.ones(self.n, bool) if mask is None else mask)
        pending = frame.active(frame.entry)
        if pending is not None and not pending.any():
            raise _Return

    def s_IfStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        test = self.condition(self.eval(node.test, env, mask), mask)
        if test is True:
            self.statement(node.consequent, env, mask)
        elif test is False:
            if node.alternate is not None:
                self.statement(node.alternate, env, mask)
        else:
            then_mask = mask_and(mask, test)
            else_mask = mask_and(mask, ~test)
            self.branch(node.consequent, env, then_mask)
            if node.alternate is not None:
                self.branch(node.alternate, env, self.frames[-1].active(else_mask))

    def branch(self, node: Any, env: Env, mask: MaskType) -> None:
        if mask_any(mask):
            try:
                self.statement(node, env, mask)
            except (_Break, _Continue):
                raise Unsupported("break or continue taken by some pixels only") from None

    def s_ForStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        loop_env = Env(env, mask, env.pixel)
        if node.init is not None:
            if node.init.type == "VariableDeclaration":
                self.s_VariableDeclaration(node.init, loop_env, mask)
            else:
                self.eval(node.init, loop_env, mask)
        iteration = loop_env
        while True:
            self.loop_step()
            iteration = _copy_env(iteration)
            if node.test is not None and not self.uniform(self.eval(node.test, iteration, mask), mask):
                return
            if self.loop_body(node.body, iteration, mask):
                return
            iteration = _copy_env(iteration)
            if node.update is not None:
                self.eval(node.update, iteration, mask)

    def s_WhileStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        while True:
            self.loop_step()
            if not self.uniform(self.eval(node.test, env, mask), mask):
                return
            if self.loop_body(node.body, env, mask):
                return

    def s_DoWhileStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        while True:
            self.loop_step()
            if self.loop_body(node.body, env, mask):
                return
            if not self.uniform(self.eval(node.test, env, mask), mask):
                return

    def s_ForOfStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        iterable = self.eval(node.right, env, mask)
        if not isinstance(iterable, JSArray):
            raise Unsupported("for...of over anything but an array")
        for item in list(iterable.items):
            self.loop_step()
            iteration = Env(env, mask, env.pixel)
            target = node.left.declarations[0].id if node.left.type == "VariableDeclaration" else node.left
            if node.left.type == "VariableDeclaration" and node.left.kind != "var":
                self.bind_pattern(target, item, iteration, mask, None)
            else:
                self.assign_pattern(target, item, iteration, mask)
            if self.loop_body(node.body, iteration, mask):
                return

    def loop_body(self, body: Any, env: Env, mask: MaskType) -> bool:
        """Run one iteration; True when the loop ends (break, or every lane returned)."""
        frame = self.frames[-1]
        try:
            self.statement(body, env, mask)
        except _Break:
            return True
        except _Continue:
            pass
        if frame.returned is not None:
            raise Unsupported("a loop that some pixels leave by return")
        return False

    def s_BreakStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        if node.label is not None:
            raise Unsupported("labelled break")
        raise _Break

    def s_ContinueStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        if node.label is not None:
            raise Unsupported("labelled continue")
        raise _Continue

    def s_SwitchStatement(self, node: Any, env: Env, mask: MaskType) -> None:
        subject = self.eval(node.discriminant, env, mask)
        inner = Env(env, mask, env.pixel)
        matched = False
        try:
            for case in node.cases:
                if not matched and case.test is not None:
                    test = self.strict_equal(subject, self.eval(case.test, inner, mask), mask)
                    matched = self.uniform(test, mask)
                if matched:
                    self.block(case.consequent, inner, mask)
            if not matched:
                default_seen = False
                for case in node.cases:
                    default_seen = default_seen or case.test is None
                    if default_seen:
                        self.block(case.consequent, inner, mask)
        except _Break:
            pass

    def uniform(self, value: Any, mask: MaskType) -> bool:
        test = self.condition(value, mask)
        if isinstance(test, np.ndarray):
            raise Unsupported("a loop or switch whose condition differs between pixels")
        return test

    # -- bindings -----------------------------------------------------------------------

    def bind_pattern(self, pattern: Any, value: Any, env: Env, mask: MaskType, rest: list[Any] | None) -> None:
        """Declare names (parameters, let, const) in `env`."""
        match pattern.type:
            case "Identifier":
                env.vars[pattern.name] = value
            case "AssignmentPattern":
                if value is UNDEFINED:
                    value = self.eval(pattern.right, env, mask)
                elif isinstance(value, Mixed):
                    raise Unsupported("a default parameter undefined in some pixels only")
                self.bind_pattern(pattern.left, value, env, mask, rest)
            case "RestElement":
                self.bind_pattern(pattern.argument, JSArray(list(rest or []), lanes=mask), env, mask, None)
            case _:
                raise Unsupported("destructuring")

    def assign_pattern(self, pattern: Any, value: Any, env: Env, mask: MaskType) -> None:
        if pattern.type != "Identifier":
            raise Unsupported("destructuring")
        self.assign_name(pattern.name, value, env, mask)

    def assign_name(self, name: str, value: Any, env: Env, mask: MaskType) -> None:
        owner = env.find(name)
        if owner is None or owner.parent is None:
            raise Unsupported(f"assignment to the global {name!r}")
        if name in owner.consts:
            raise Unsupported(f"assignment to the constant {name!r}")
        if self.pixel_phase and not owner.pixel:
            raise Unsupported(f"evaluatePixel assigns to {name!r}, declared outside it")
        if mask is None or mask is owner.lanes:
            owner.vars[name] = value
        else:
            owner.vars[name] = merge(mask, value, owner.vars[name], self.n)

    # -- expressions --------------------------------------------------------------------

    def eval(self, node: Any, env: Env, mask: MaskType) -> Any:
        handler = getattr(self, "e_" + node.type, None)
        if handler is None:
            raise Unsupported(f"{node.type} expressions")
        return handler(node, env, mask)

    def e_Literal(self, node: Any, env: Env, mask: MaskType) -> Any:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return float(value)
        raise Unsupported("regular expressions")

    def e_Identifier(self, node: Any, env: Env, mask: MaskType) -> Any:
        owner = env.find(node.name)
        if owner is None:
            raise Unsupported(f"the undefined name {node.name!r}")
        return restrict(owner.vars[node.name], mask)

    def e_ThisExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        if env.this is UNDEFINED:  # sloppy-mode JavaScript gives the global object here
            raise Unsupported("this outside a method or constructor")
        return env.this

    def e_ArrayExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        items: list[Any] = []
        for element in node.elements:
            if element is None:
                raise Unsupported("arrays with holes")
            if element.type == "SpreadElement":
                spread = self.eval(element.argument, env, mask)
                if not isinstance(spread, JSArray):
                    raise Unsupported("spread of anything but an array")
                items.extend(spread.items)
            else:
                items.append(self.eval(element, env, mask))
        self.allocate(items)
        return JSArray(items, shared=not self.pixel_phase, lanes=mask)

    def e_ObjectExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        obj = JSObject(shared=not self.pixel_phase, lanes=mask)
        for prop in node.properties:
            if prop.type != "Property" or prop.kind != "init":
                raise Unsupported("getters, setters and spread in object literals")
            if prop.computed:
                key = self.property_key(self.eval(prop.key, env, mask))
            elif prop.key.type == "Identifier":
                key = prop.key.name
            else:
                key = _canonical_key(prop.key.value)
            obj.props[key] = self.eval(prop.value, env, mask)
        self.allocate(list(obj.props.values()))
        return obj

    def e_FunctionExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        if node.isAsync or node.generator:
            raise Unsupported("async and generator functions")
        if node.id is not None:
            env = Env(env, env.lanes, env.pixel)
            function = JSFunction(node, env, UNDEFINED, self)
            env.vars[node.id.name] = function
            env.consts.add(node.id.name)
            return function
        return JSFunction(node, env, UNDEFINED, self)

    def e_ArrowFunctionExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        if node.isAsync:
            raise Unsupported("async functions")
        return JSFunction(node, env, env.this, self)

    def e_SequenceExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        value = UNDEFINED
        for expression in node.expressions:
            value = self.eval(expression, env, mask)
        return value

    def e_TemplateLiteral(self, node: Any, env: Env, mask: MaskType) -> Any:
        if node.expressions:
            raise Unsupported("template literals with substitutions")
        return node.quasis[0].value.cooked

    def e_UnaryExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        if node.operator == "typeof":
            if node.argument.type == "Identifier" and env.find(node.argument.name) is None:
                return "undefined"
            return type_name(self.eval(node.argument, env, mask))
        if node.operator == "delete":
            raise Unsupported("delete")
        value = self.eval(node.argument, env, mask)
        return distribute(lambda v: self.unary(node.operator, v), [value], mask, self.n)

    def unary(self, operator: str, value: Any) -> Any:
        match operator:
            case "-":
                return number_result(-to_number(value))
            case "+":
                return to_number(value)
            case "!":
                test = truthy(value, self.n)
                return ~test if isinstance(test, np.ndarray) else not test
            case "~":
                return number_result(~builtins.to_int32(to_number(value)))
            case "void":
                return UNDEFINED
        raise Unsupported(f"the operator {operator}")

    def e_BinaryExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        left = self.eval(node.left, env, mask)
        right = self.eval(node.right, env, mask)
        return self.binary(node.operator, left, right, mask)

    def binary(self, operator: str, left: Any, right: Any, mask: MaskType) -> Any:
        if operator in ("===", "!=="):
            equal = self.strict_equal(left, right, mask)
            return equal if operator == "===" else _negate(equal)
        if operator == "+" and (isinstance(left, str) or isinstance(right, str)):
            text = distribute(lambda a, b: _arithmetic(operator, a, b), [left, right], mask, self.n)
            self.allocate(text if isinstance(text, str) else "")
            return text
        if operator in ("==", "!="):
            equal = distribute(_loose_equal, [left, right], mask, self.n)
            return equal if operator == "==" else _negate(equal)
        if operator == "in":
            return self.has_property(right, left, mask)
        return distribute(lambda a, b: _arithmetic(operator, a, b), [left, right], mask, self.n)

    def strict_equal(self, left: Any, right: Any, mask: MaskType) -> Any:
        return distribute(_strict_equal, [left, right], mask, self.n)

    def e_LogicalExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        left = self.eval(node.left, env, mask)
        if node.operator == "??":
            if isinstance(left, Mixed):
                raise Unsupported("?? on a value null in some pixels only")
            return self.eval(node.right, env, mask) if left is None or left is UNDEFINED else left
        test = self.condition(left, mask)
        # Where the left operand decides (truthy for ||, falsy for &&) it is the result.
        left_decides = _negate(test) if node.operator == "&&" else test
        if left_decides is True:
            return left
        if left_decides is False:
            return self.eval(node.right, env, mask)
        right = self.eval(node.right, env, mask_and(mask, ~left_decides))
        return merge(left_decides, left, right, self.n)

    def e_ConditionalExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        test = self.condition(self.eval(node.test, env, mask), mask)
        if test is True:
            return self.eval(node.consequent, env, mask)
        if test is False:
            return self.eval(node.alternate, env, mask)
        consequent = self.eval(node.consequent, env, mask_and(mask, test))
        alternate = self.eval(node.alternate, env, mask_and(mask, ~test))
        return merge(test, consequent, alternate, self.n)

    def e_AssignmentExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        target = node.left
        if target.type == "MemberExpression":
            obj = self.eval(target.object, env, mask)
            key = self.member_key(target, env, mask)
            value = self.eval(node.right, env, mask)
            if node.operator != "=":
                value = self.binary(node.operator[:-1], self.get_property(obj, key, mask), value, mask)
            self.set_property(obj, key, value, mask)
            return value
        if target.type != "Identifier":
            raise Unsupported("destructuring assignment")
        value = self.eval(node.right, env, mask)
        if node.operator != "=":
            value = self.binary(node.operator[:-1], self.e_Identifier(target, env, mask), value, mask)
        self.assign_name(target.name, value, env, mask)
        return value

    def e_UpdateExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        target = node.argument
        step = 1.0 if node.operator == "++" else -1.0
        if target.type == "Identifier":
            old = to_number(self.e_Identifier(target, env, mask))
            new = number_result(old + step)
            self.assign_name(target.name, new, env, mask)
        elif target.type == "MemberExpression":
            obj = self.eval(target.object, env, mask)
            key = self.member_key(target, env, mask)
            old = to_number(self.get_property(obj, key, mask))
            new = number_result(old + step)
            self.set_property(obj, key, new, mask)
        else:
            raise Unsupported("update of this target")
        return new if node.prefix else old

    def e_MemberExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        obj = self.eval(node.object, env, mask)
        return self.get_property(obj, self.member_key(node, env, mask), mask)

    def member_key(self, node: Any, env: Env, mask: MaskType) -> Any:
        if node.computed:
            return self.eval(node.property, env, mask)
        return node.property.name

    def e_CallExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        if node.callee.type == "MemberExpression":
            this = self.eval(node.callee.object, env, mask)
            callee = self.get_property(this, self.member_key(node.callee, env, mask), mask)
        else:
            this = UNDEFINED
            callee = self.eval(node.callee, env, mask)
        return self.call(callee, this, self.arguments(node.arguments, env, mask), mask)

    def e_NewExpression(self, node: Any, env: Env, mask: MaskType) -> Any:
        callee = self.eval(node.callee, env, mask)
        args = self.arguments(node.arguments, env, mask)
        if isinstance(callee, Native):
            if not callee.constructor:
                raise Unsupported(f"new {callee.name}")
            return callee.fn(self, UNDEFINED, args, mask)
        if isinstance(callee, JSFunction) and not callee.arrow:
            proto = callee.get("prototype")
            instance = JSObject(
                proto=proto if isinstance(proto, JSObject) else None, shared=not self.pixel_phase, lanes=mask
            )
            result = callee.call(self, instance, args, mask)
            return result if isinstance(result, JSObject) else instance
        raise Unsupported("new of this value")

    def arguments(self, nodes: list[Any], env: Env, mask: MaskType) -> list[Any]:
        args: list[Any] = []
        for node in nodes:
            if node.type == "SpreadElement":
                spread = self.eval(node.argument, env, mask)
                if not isinstance(spread, JSArray):
                    raise Unsupported("spread of anything but an array")
                args.extend(spread.items)
            else:
                args.append(self.eval(node, env, mask))
        return args

    def call(self, callee: Any, this: Any, args: list[Any], mask: MaskType) -> Any:
        if isinstance(callee, Native):
            return callee.fn(self, this, args, mask)
        if isinstance(callee, JSFunction):
            return callee.call(self, this, args, mask)
        if isinstance(callee, Mixed):
            return distribute(lambda f: self.call(f, this, args, mask), [callee], mask, self.n)
        raise Unsupported(f"calling {type_name(callee)}")

    # -- properties ---------------------------------------------------------------------

    def property_key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, float):
            return _canonical_key(key)
        if isinstance(key, bool):
            return "true" if key else "false"
        if key is UNDEFINED:
            return "undefined"
        if key is None:
            return "null"
        raise Unsupported("this kind of property key")

    def get_property(self, obj: Any, key: Any, mask: MaskType) -> Any:
        if isinstance(obj, Mixed) or isinstance(key, Mixed):
            return distribute(lambda o, k: self.get_property(o, k, mask), [obj, key], mask, self.n)
        if is_varying(key):
            return self.gather(obj, key, mask)
        name = self.property_key(key)
        if isinstance(obj, JSObject | JSFunction | Native):
            return obj.get(name)
        if isinstance(obj, str):
            return builtins.string_property(obj, name)
        if obj is None or obj is UNDEFINED:
            raise Unsupported(f"reading {name!r} of {type_name(obj)}")
        raise Unsupported(f"properties of {type_name(obj)} values")

    def gather(self, obj: Any, key: np.ndarray, mask: MaskType) -> Any:
        """obj[key] where the key differs between pixels: one lookup per distinct key."""
        if not isinstance(obj, JSObject):
            raise Unsupported("a per-pixel property of this value")
        keys = key if mask is None else key[mask]
        distinct = np.unique(keys)
        if len(distinct) > MAX_DISTINCT_KEYS:
            raise Unsupported("a lookup with more distinct keys than the fast path takes")
        if distinct.dtype == bool:
            distinct = distinct.astype(np.float64)
            key = key.astype(np.float64)
        branches = []
        for value in distinct:
            lanes = key == value if not math.isnan(value) else np.isnan(key)
            branches.append((mask_and(mask, lanes), obj.get(self.property_key(float(value)))))
        return builtins.combine_lookup(branches, self.n)

    def has_property(self, obj: Any, key: Any, mask: MaskType) -> Any:
        if not isinstance(obj, JSObject) or is_varying(key) or isinstance(key, Mixed):
            raise Unsupported("this use of the in operator")
        name = self.property_key(key)
        if isinstance(obj, JSArray):
            return name == "length" or (name.isdigit() and int(name) < len(obj.items))
        holder: JSObject | None = obj
        while holder is not None:
            if name in holder.props:
                return True
            holder = holder.proto
        return False

    def set_property(self, obj: Any, key: Any, value: Any, mask: MaskType) -> None:
        if not isinstance(obj, JSObject) or is_varying(key) or isinstance(key, Mixed):
            raise Unsupported("this property assignment")
        obj.check_writable(self.pixel_phase)
        self.allocate([value])
        name = self.property_key(key)
        plain = mask is None or mask is obj.lanes
        if isinstance(obj, JSArray):
            if name == "length":
                raise Unsupported("setting an array's length")
            index = int(name) if name.isdigit() else None
            if index is None:
                raise Unsupported("named properties on arrays")
            if index < len(obj.items):
                obj.items[index] = value if plain else merge(mask, value, obj.items[index], self.n)
            elif index == len(obj.items) and plain:
                obj.items.append(value)
            else:
                raise Unsupported("an array that grows in some pixels only")
            return
        if plain:
            obj.props[name] = value
        else:
            obj.props[name] = merge(mask, value, obj.get(name), self.n)


def _copy_env(env: Env) -> Env:
    """A fresh binding per loop iteration, as `let` in a for loop has."""
    copy = Env(env.parent, env.lanes, env.pixel)
    copy.vars = dict(env.vars)
    copy.consts = env.consts
    copy.this = env.this
    return copy


# Where statements hold statements: `var` is found there, not inside expressions.
_STATEMENT_PARTS = ("body", "consequent", "alternate", "block", "handler", "finalizer", "cases", "init", "left")


def _var_names(statements: list[Any]) -> list[str]:
    """Names declared by `var` anywhere in these statements, not inside nested functions."""
    names: list[str] = []
    stack = list(statements)
    while stack:
        node = stack.pop()
        kind = getattr(node, "type", None)
        if kind is None or kind in ("FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"):
            continue
        if kind == "VariableDeclaration" and node.kind == "var":
            for declarator in node.declarations:
                names.extend(_pattern_identifiers(declarator.id))
        for part in _STATEMENT_PARTS:
            value = getattr(node, part, None)
            if isinstance(value, list):
                stack.extend(value)
            elif hasattr(value, "type"):
                stack.append(value)
    return names


def _pattern_identifiers(pattern: Any) -> list[str]:
    if pattern.type == "Identifier":
        return [pattern.name]
    raise Unsupported("destructuring")


def _canonical_key(value: Any) -> str:
    """JavaScript's ToString for a number used as a property key."""
    if isinstance(value, str):
        return value
    value = float(value)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if "e" in text:
        raise Unsupported("numbers in exponent form as property keys")
    return text


def _negate(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return ~value
    if isinstance(value, bool):
        return not value
    raise Unsupported("negating this comparison")


_COMPARISONS = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}
_ARITHMETIC = {
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
}


def _arithmetic(operator: str, left: Any, right: Any) -> Any:
    if operator == "+" and (isinstance(left, str) or isinstance(right, str)):
        return builtins.concatenate(left, right)
    if operator in _COMPARISONS and isinstance(left, str) and isinstance(right, str):
        return bool(_COMPARISONS[operator](left, right))
    a, b = to_number(left), to_number(right)
    with np.errstate(all="ignore"):
        if operator in _COMPARISONS:
            result = _COMPARISONS[operator](a, b)
            return bool(result) if isinstance(result, np.bool_) else result
        if operator == "+":
            return number_result(np.add(a, b) if is_varying(a) or is_varying(b) else np.float64(a) + b)
        if operator in _ARITHMETIC:
            return number_result(_ARITHMETIC[operator](np.float64(a) if isinstance(a, float) else a, b))
        if operator == "**":
            return js_pow(a, b)
        return number_result(builtins.bitwise(operator, a, b))


def _strict_equal(left: Any, right: Any) -> Any:
    kind_left, kind_right = _primitive_kind(left), _primitive_kind(right)
    if kind_left != kind_right:
        return False
    if kind_left in ("number", "boolean"):
        result = np.equal(left, right)
        return bool(result) if isinstance(result, np.bool_) else result
    if kind_left == "object" and (getattr(left, "merged", False) or getattr(right, "merged", False)):
        raise Unsupported("comparing a value chosen per pixel between two objects")
    return left is right if kind_left == "object" else left == right


def _loose_equal(left: Any, right: Any) -> Any:
    nullish_left = left is None or left is UNDEFINED
    nullish_right = right is None or right is UNDEFINED
    if nullish_left or nullish_right:
        return nullish_left and nullish_right
    kind_left, kind_right = _primitive_kind(left), _primitive_kind(right)
    if kind_left == kind_right:
        return _strict_equal(left, right)
    if "object" in (kind_left, kind_right) or "string" in (kind_left, kind_right):
        raise Unsupported("== between values of different types")
    result = np.equal(to_number(left), to_number(right))
    return bool(result) if isinstance(result, np.bool_) else result


def _primitive_kind(value: Any) -> str:
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        return "boolean"
    if isinstance(value, float | np.ndarray):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    return "object"
